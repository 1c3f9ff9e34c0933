//! Timestamps as chatfn writes them: RFC 3339 in UTC, with milliseconds (ChatKitty's form).

pub fn now_rfc3339() -> String {
    humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string()
}
