// Package chattemplate renders a model folder's chat template exactly as
// transformers.js 4.3.1's tokenizer.apply_chat_template(messages,
// {tokenize: false, add_generation_prompt}) does, string for string.
//
// # Engine
//
// transformers.js renders templates with @huggingface/jinja (0.5.11 in its
// lock file), a small JavaScript interpreter that follows Python Jinja only
// in part. This package is a Go port of that interpreter (lexer.go,
// parser.go, interp.go, filters.go, value.go follow lexer.ts, parser.ts and
// runtime.ts function by function) rather than a general Jinja module such
// as github.com/nikolalohinski/gonja/v2 or github.com/flosch/pongo2: those
// follow Python Jinja2 (or Django), and the output would differ from
// transformers.js wherever @huggingface/jinja does, which real templates
// hit:
//
//   - none and undefined print as "" (Jinja2: "None"); true/false print
//     lower-case; a float with no fraction prints "1.0" but joins ("~",
//     "+") as "1";
//   - lists and mappings print as JSON with ", " and ": " separators (a
//     content list pasted into a prompt: {"type": "image"},{"type": ...});
//   - == is JavaScript's loose equality (undefined == none; 1 == "1"),
//     "in" on a list is strict equality;
//   - {% continue %} / {% break %} drop the whole iteration's output, and a
//     loop whose every iteration continued renders its else block;
//   - macros see the caller's scope; "for" over a string is an error; the
//     set of filters, tests and string/dict methods is @huggingface/jinja's
//     (an unknown one is an error, e.g. list|trim, string|selectattr);
//   - trim_blocks and lstrip_blocks are on, one trailing newline of the
//     template is dropped, {% generation %} tags are removed;
//   - numbers are float64 and print as JavaScript prints them; strings
//     count length and index in UTF-16 units, slice by code points.
//
// The differential test (diff_test.go) renders every model twin's
// template (models/*/testdata/*), feature templates (testdata/features.json)
// and 97 real-world templates collected from npm (testdata/README.md) over
// 9 conversations (single and multi-turn, system, text and image parts,
// tool calls),
// with and without add_generation_prompt, here and with transformers.js
// (scripts/transformersjs-ref/chattemplate.js; testdata/golden.json where
// it is not installed), and requires identical strings, or an error on
// both sides.
//
// # Variables
//
// Apply passes what apply_chat_template passes: messages,
// add_generation_prompt, tools and documents (none unless given), the
// special tokens bos_token, eos_token, unk_token, sep_token, pad_token,
// cls_token and mask_token that tokenizer_config.json sets (a string or an
// AddedToken's content), then any extra variables. Globals: true, false,
// none (and True, False, None), raise_exception (Render returns a
// *RaiseError), range, strftime_now (Options.Now), namespace.
//
// # Differences
//
// Known, none of them seen in the test corpus: tojson(sort_keys=true)
// orders keys by golang.org/x/text/collate's root collation, which stands
// for ICU's localeCompare (equal on the keys tested); strftime_now prints English month names (transformers.js uses the
// default locale); error messages are the reference's where the test
// compares them, but a template that crashes JavaScript itself (e.g.
// []|first printed) gives an error here too rather than the same
// TypeError text; macro kwargs/varargs detection ignores Jinja's
// declaration order; range() stops at 2^20 items with an error (the
// reference has no limit). Render never panics: every failure is an error
// (FuzzRender).
package chattemplate
