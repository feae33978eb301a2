//! Free space on the data dir's filesystem: for the metric, the start-up line, the warning
//! below `DISK_FREE_WARN_MB`, and the store's decision to reopen after a full disk.

use std::path::Path;

/// Bytes an unprivileged process may still write on the filesystem holding `path`.
pub fn free_bytes(path: &Path) -> Option<u64> {
    use std::os::unix::ffi::OsStrExt;
    let path = if path.as_os_str().is_empty() { Path::new(".") } else { path };
    let c = std::ffi::CString::new(path.as_os_str().as_bytes()).ok()?;
    let mut stat: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: `c` is a NUL-terminated path and `stat` a valid out-pointer for the call.
    let rc = unsafe { libc::statvfs(c.as_ptr(), &mut stat) };
    (rc == 0).then(|| stat.f_bavail as u64 * stat.f_frsize as u64)
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_temp_dir_has_some_room() {
        let free = super::free_bytes(&std::env::temp_dir()).expect("statvfs answers");
        assert!(free > 0);
        assert!(super::free_bytes(std::path::Path::new("/no/such/dir")).is_none());
    }
}
