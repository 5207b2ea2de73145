// Package docsnippets holds the test that compiles every Go snippet of
// README.md and docs/*.md against the module, so that the documentation
// cannot drift from the API. It has no code of its own.
//
// A ```go block is one of:
//
//   - a whole file: it starts with a package clause and is compiled as
//     its own package;
//
//   - a fragment: statements, compiled as the body of a function. Names it
//     uses without declaring them are given in an HTML comment on the line
//     right above the fence, which readers of the rendered page do not
//     see:
//
//     <!-- go:given ctx context.Context; cfg *twitchauth.Config -->
//
//     Imports are added for the packages the fragment (or its givens)
//     names, from a table of this module's packages and the standard
//     library's common ones (see the test). Variables a fragment declares
//     and does not use are fine. An ellipsis standing for elided code is
//     not Go (one in a comment is fine): write the code, or use another
//     fence (```text) for pseudo-code.
//
// Errors name the document and line (//line directives), e.g.
// "README.md:97:5: undefined: secret".
package docsnippets
