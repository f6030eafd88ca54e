//! The read-ahead of the disk under a SQLite data directory, and the warning a large one
//! earns.
//!
//! On Linux with ext4's large folios (6.x kernels), a file read sequentially from disk is
//! cached in folios as large as the read-ahead window allows, and every later 4 KiB write
//! into such a folio walks all of its blocks: SQLite's checkpoints, which copy each
//! check-in's page from the log into the database file, then cost several times more CPU
//! (43 µs a page at 8,192 KiB of read-ahead, against about 5 µs into pages SQLite's own
//! reads cached). A backup, a scan or a `cat` of a file that was not cached is
//! such a read; SQLite's own point reads are not. docs/deployment.md ("Disk read-ahead")
//! and docs/benchmarks.md (eighth round) have the measurements.

use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// Above this (Linux's usual default) the warning is given.
const LARGEST_QUIET_KIB: u64 = 128;

/// The read-ahead, in KiB, of the block device holding `path`, when sysfs tells (not for
/// a file system without one, such as tmpfs, nor off Linux).
fn read_ahead_kib(path: &Path) -> Option<u64> {
    read_ahead_kib_in(Path::new("/sys"), path)
}

fn read_ahead_kib_in(sys: &Path, path: &Path) -> Option<u64> {
    let (major, minor) = numbers(std::fs::metadata(path).ok()?.dev());
    let device = sys.join(format!("dev/block/{major}:{minor}"));
    // A partition has no queue of its own: its disk's applies.
    [device.join("queue"), device.join("../queue")]
        .iter()
        .find_map(|q| std::fs::read_to_string(q.join("read_ahead_kb")).ok())
        .and_then(|s| s.trim().parse().ok())
}

/// A device's major and minor numbers, as glibc's `major` and `minor` split a `dev_t`.
fn numbers(dev: u64) -> (u64, u64) {
    (
        ((dev >> 32) & 0xffff_f000) | ((dev >> 8) & 0x0fff),
        ((dev >> 12) & 0xffff_ff00) | (dev & 0x00ff),
    )
}

/// What to tell the operator about a data directory whose disk reads ahead `kib` KiB.
fn advice(kib: u64) -> Option<String> {
    (kib > LARGEST_QUIET_KIB).then(|| {
        format!(
            "the data directory's disk reads ahead {kib} KiB: once a backup or a scan has \
             read the database from disk, SQLite's checkpoints can cost several times more \
             CPU; {LARGEST_QUIET_KIB} KiB or less is advised (docs/deployment.md, \
             \"Disk read-ahead\")"
        )
    })
}

/// The advice for `dir`, if any.
pub fn check(dir: &Path) -> Option<String> {
    read_ahead_kib(dir).and_then(advice)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fake sysfs holding `dir`'s device: a disk with its queue, or a partition of it.
    fn fake_sys(dir: &Path, partition: bool, kib: &str) -> tempfile::TempDir {
        let sys = tempfile::tempdir().unwrap();
        let (major, minor) = numbers(std::fs::metadata(dir).unwrap().dev());
        let disk = sys.path().join("devices/disk");
        let entry = if partition {
            disk.join("part1")
        } else {
            disk.clone()
        };
        std::fs::create_dir_all(disk.join("queue")).unwrap();
        std::fs::create_dir_all(&entry).unwrap();
        std::fs::write(disk.join("queue/read_ahead_kb"), kib).unwrap();
        let links = sys.path().join("dev/block");
        std::fs::create_dir_all(&links).unwrap();
        std::os::unix::fs::symlink(&entry, links.join(format!("{major}:{minor}"))).unwrap();
        sys
    }

    #[test]
    fn reads_the_disks_read_ahead_for_a_disk_and_for_a_partition() {
        let dir = tempfile::tempdir().unwrap();
        let disk = fake_sys(dir.path(), false, "8192\n");
        assert_eq!(read_ahead_kib_in(disk.path(), dir.path()), Some(8192));
        let partition = fake_sys(dir.path(), true, "64\n");
        assert_eq!(read_ahead_kib_in(partition.path(), dir.path()), Some(64));
    }

    #[test]
    fn tells_nothing_without_a_device_entry_or_a_number() {
        let dir = tempfile::tempdir().unwrap();
        let empty = tempfile::tempdir().unwrap();
        assert_eq!(read_ahead_kib_in(empty.path(), dir.path()), None);
        let garbled = fake_sys(dir.path(), false, "lots");
        assert_eq!(read_ahead_kib_in(garbled.path(), dir.path()), None);
        let missing = dir.path().join("nope");
        assert_eq!(read_ahead_kib_in(Path::new("/sys"), &missing), None);
    }

    #[test]
    fn splits_device_numbers_as_glibc_does() {
        // makedev(8, 1) (sda1) and makedev(259, 65537) (a large minor).
        assert_eq!(numbers(0x801), (8, 1));
        assert_eq!(numbers(0x1001_0301), (259, 65537));
    }

    #[test]
    fn advises_only_above_the_usual_default() {
        assert_eq!(advice(0), None);
        assert_eq!(advice(LARGEST_QUIET_KIB), None);
        let text = advice(8192).unwrap();
        assert!(text.contains("8192 KiB"), "{text}");
        assert!(text.contains("Disk read-ahead"), "{text}");
    }
}
