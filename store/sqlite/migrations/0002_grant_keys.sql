-- Store keys now hold the application's client ID: "<client id>/app" and
-- "<client id>/user:<id>" (store.GrantKey), so that two applications sharing
-- a database keep their grants apart. Records under the old keys ("app",
-- "user:<id>") are moved by Go code after the migrations (rekey.go): each
-- token is sealed with its record key as associated data, so it must be
-- opened and sealed again, which SQL cannot do. This migration marks the
-- schema version, so that a program older than the new keys refuses the
-- database instead of writing under the old keys beside the new ones.
SELECT 1;
