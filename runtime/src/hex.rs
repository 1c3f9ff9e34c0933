//! Lower-case hex, for digests: cache file names, key files, what was taken from a directory.

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
