//! A file mapped read-only into memory (the snapshots' blobs): its pages are the kernel's page
//! cache, which the process can give back once it has read them (`release`) and which fault
//! in again from the file when read later, rather than a copy on the heap for as long as an
//! app runs.
//!
//! The file must not be truncated or rewritten in place while mapped (reading a page past a
//! truncation raises SIGBUS): chatfn replaces snapshot files by renaming a new one over them,
//! and a removed or replaced file stays readable through its mapping.

use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::path::Path;

pub struct Mapped {
    ptr: *mut libc::c_void,
    len: usize,
}

// SAFETY: the mapping is read-only and lives until `drop`; reading it from any thread is sound.
unsafe impl Send for Mapped {}
unsafe impl Sync for Mapped {}

impl Mapped {
    pub fn open(path: &Path) -> io::Result<Mapped> {
        let file = File::open(path)?;
        let len = usize::try_from(file.metadata()?.len())
            .map_err(|_| io::Error::other("the file is too large to map"))?;
        if len == 0 {
            return Err(io::Error::other("the file is empty"));
        }
        // SAFETY: a new private read-only mapping of `len` bytes of an open file; the mapping
        // stays valid after the file is closed.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ,
                libc::MAP_PRIVATE,
                file.as_raw_fd(),
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        Ok(Mapped { ptr, len })
    }

    pub fn bytes(&self) -> &[u8] {
        // SAFETY: `ptr` maps `len` readable bytes until `drop`.
        unsafe { std::slice::from_raw_parts(self.ptr as *const u8, self.len) }
    }

    /// Gives the pages read so far back to the kernel (they leave the process's resident
    /// memory); a later read faults them in again from the file, with the same bytes.
    pub fn release(&self) {
        // SAFETY: advice on the mapping's own range; MADV_DONTNEED on a private file mapping
        // that was never written only drops pages that can be read again from the file.
        unsafe { libc::madvise(self.ptr, self.len, libc::MADV_DONTNEED) };
    }
}

impl Drop for Mapped {
    fn drop(&mut self) {
        // SAFETY: the mapping made in `open`, unmapped once.
        unsafe { libc::munmap(self.ptr, self.len) };
    }
}

/// The process's resident memory in KB (`VmRSS`), for the tests of what stays mapped.
#[cfg(test)]
pub(crate) fn resident_kb() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn released_pages_leave_memory_and_read_back_the_same() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("blob");
        let content: Vec<u8> =
            (0..32u32 << 20).map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8).collect();
        std::fs::write(&path, &content).unwrap();
        let mapped = Mapped::open(&path).unwrap();
        let sum = |m: &Mapped| m.bytes().iter().map(|&b| b as u64).sum::<u64>();
        let expected = sum(&mapped);
        let read = resident_kb();
        mapped.release();
        let released = resident_kb();
        assert!(
            read.saturating_sub(released) > 24 << 10,
            "32 MB read, then released: {read} KB resident, then {released} KB"
        );
        // Replaced on disk meanwhile (by a rename, as snapshots are): the mapping still reads
        // the file it mapped.
        let newer = dir.path().join("newer");
        std::fs::write(&newer, vec![0u8; content.len()]).unwrap();
        std::fs::rename(&newer, &path).unwrap();
        assert_eq!(sum(&mapped), expected);
        assert_eq!(mapped.bytes(), &content[..]);
    }

    #[test]
    fn an_empty_or_missing_file_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        assert!(Mapped::open(&dir.path().join("missing")).is_err());
        std::fs::write(dir.path().join("empty"), b"").unwrap();
        assert!(Mapped::open(&dir.path().join("empty")).is_err());
    }
}
