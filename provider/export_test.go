package provider

// SetAfterSaveHook runs f after a renewal was saved and before it is handed
// out (crash tests only).
func SetAfterSaveHook(p *Provider, f func(key string)) { p.testAfterSave = f }
