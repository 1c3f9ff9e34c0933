//! TypeScript → JavaScript for function files, by type stripping: annotations are replaced
//! with spaces (swc's fast strip, the engine behind Node's `--experimental-strip-types`), so
//! every line and column of the output is the line and column of the original file and error
//! stacks point at the code the user wrote. TypeScript that needs code generation (enums,
//! namespaces, parameter properties) is refused with its location instead of being rewritten.

use std::sync::{Arc, Mutex};

use swc_common::errors::{DiagnosticBuilder, Emitter, Handler};
use swc_common::sync::Lrc;
use swc_common::{BytePos, SourceMap, GLOBALS};
use swc_ts_fast_strip::{operate, Mode, Options};

/// A TypeScript file that cannot be stripped, with the place to fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, serde::Serialize)]
#[error("{file}:{line}:{column}: {message}")]
pub struct TranspileError {
    pub file: String,
    pub line: usize,
    /// 1-based, like editors and V8 stack traces.
    pub column: usize,
    pub message: String,
}

/// Whether a file name asks for type stripping.
pub fn is_typescript(path: &str) -> bool {
    [".ts", ".mts", ".cts"].iter().any(|ext| path.ends_with(ext)) && !path.ends_with(".d.ts")
}

#[derive(Default, Clone)]
struct Collected(Arc<Mutex<Vec<(String, Option<BytePos>)>>>);

impl Emitter for Collected {
    fn emit(&mut self, db: &mut DiagnosticBuilder<'_>) {
        let lo = db.span.primary_span().map(|s| s.lo);
        self.0.lock().unwrap().push((db.message(), lo));
    }
}

/// Strips TypeScript types from `source`, keeping every position.
pub fn strip_types(file: &str, source: String) -> Result<String, TranspileError> {
    let cm: Lrc<SourceMap> = Default::default();
    let collected = Collected::default();
    let handler = Handler::with_emitter(true, false, Box::new(collected.clone()));
    let options = Options {
        mode: Mode::StripOnly,
        module: Some(false),
        filename: Some(file.to_string()),
        ..Default::default()
    };
    let result = GLOBALS.set(&Default::default(), || operate(&cm, &handler, source, options));
    match result {
        Ok(output) => Ok(output.code),
        Err(err) => {
            let diagnostics = collected.0.lock().unwrap();
            let (message, lo) = diagnostics.first().cloned().unwrap_or((err.message.clone(), None));
            let (line, column) = match lo {
                Some(lo) if lo.0 > 0 => {
                    let loc = cm.lookup_char_pos(lo);
                    (loc.line, loc.col_display + 1)
                }
                _ => (1, 1),
            };
            Err(TranspileError { file: file.to_string(), line, column, message })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn annotations_become_spaces_and_positions_stay() {
        let ts = "async function handleEvent(event: Ev, context: Context): Promise<void> {\n  const x: number = 1;\n  return x as any;\n}\n";
        let js = strip_types("f.ts", ts.to_string()).unwrap();
        assert_eq!(js.len(), ts.len());
        assert_eq!(js.lines().count(), ts.lines().count());
        assert!(js.starts_with("async function handleEvent(event    , context         )"), "{js}");
        assert!(
            !js.contains("Promise<void>") && !js.contains(": number") && !js.contains(" as any")
        );
        for (a, b) in ts.lines().zip(js.lines()) {
            assert_eq!(a.len(), b.len());
        }
    }

    #[test]
    fn the_seed_function_strips() {
        let seed = include_str!("../../../functions/firebase-auth.ts");
        let js = strip_types("firebase-auth.ts", seed.to_string()).unwrap();
        assert!(js.contains("async function handleEvent(event"));
        assert!(!js.contains("UserAttemptedStartSessionEvent"));
        assert_eq!(js.lines().count(), seed.lines().count());
    }

    #[test]
    fn syntax_errors_name_line_and_column() {
        let err =
            strip_types("bad.ts", "const a = 1;\nfunction (x: number {\n".into()).unwrap_err();
        assert_eq!(err.file, "bad.ts");
        assert_eq!(err.line, 2);
        assert!(err.column > 1, "{err}");
        assert!(!err.message.is_empty());
    }

    #[test]
    fn code_generating_typescript_is_refused() {
        let err = strip_types("enum.ts", "\nenum Color { Red }\n".into()).unwrap_err();
        assert_eq!(err.line, 2, "{err}");
    }

    #[test]
    fn typescript_is_detected_by_extension() {
        assert!(is_typescript("a/b.ts") && is_typescript("x.cts") && is_typescript("x.mts"));
        assert!(!is_typescript("x.js") && !is_typescript("types.d.ts"));
    }
}
