//! JUnit XML for CI systems: one `<testsuite>`, one `<testcase>` per test, `<failure>` with
//! the mismatches.

use std::fmt::Write as _;
use std::path::Path;

use super::TestResult;

pub fn write_junit(path: &Path, app: &str, results: &[TestResult]) -> std::io::Result<()> {
    let failures = results.iter().filter(|r| !r.passed()).count();
    let total_s: f64 = results.iter().map(|r| r.duration_ms).sum::<f64>() / 1e3;
    let mut xml = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        xml,
        "<testsuite name=\"{}\" tests=\"{}\" failures=\"{failures}\" errors=\"0\" time=\"{total_s:.3}\">",
        escape(app),
        results.len()
    );
    for r in results {
        let _ = write!(
            xml,
            "  <testcase classname=\"{}\" name=\"{}\" time=\"{:.3}\"",
            escape(&r.file),
            escape(&r.name),
            r.duration_ms / 1e3
        );
        if r.passed() {
            xml.push_str("/>\n");
        } else {
            let _ = writeln!(
                xml,
                ">\n    <failure message=\"{}\">{}</failure>\n  </testcase>",
                escape(&r.failures[0]),
                escape(&r.failures.join("\n"))
            );
        }
    }
    xml.push_str("</testsuite>\n");
    std::fs::write(path, xml)
}

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // Characters XML 1.0 cannot hold at all.
            c if (c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r') => {
                out.push_str(&format!("\\u{{{:x}}}", c as u32))
            }
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn junit_escapes_and_counts() {
        let dir = tempfile::tempdir().unwrap();
        let results = vec![
            TestResult {
                file: "a.test.json".into(),
                name: "ok <1>".into(),
                duration_ms: 5.0,
                failures: vec![],
            },
            TestResult {
                file: "a.test.json".into(),
                name: "bad".into(),
                duration_ms: 7.0,
                failures: vec!["outcome: \"x\" & \u{1}".into()],
            },
        ];
        let path = dir.path().join("junit.xml");
        write_junit(&path, "app", &results).unwrap();
        let xml = std::fs::read_to_string(path).unwrap();
        assert!(xml.contains("tests=\"2\" failures=\"1\""), "{xml}");
        assert!(xml.contains("name=\"ok &lt;1&gt;\""), "{xml}");
        assert!(xml.contains("<failure message=\"outcome: &quot;x&quot; &amp; \\u{1}\">"), "{xml}");
    }
}
