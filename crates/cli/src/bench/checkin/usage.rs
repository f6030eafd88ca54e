//! The CPU time the bench's own process used in a window, read from `/proc/self/stat`
//! (Linux; elsewhere nothing is reported). With the embedded server that process is the
//! node and the load generator together, so the CPU per request includes the generator's
//! share, as the ratio to `/healthz` does; against `--server` it would be the generator's
//! alone, and is not reported.
//!
//! Not bytes written: `/proc/self/io`'s `write_bytes` counts page cache dirtied, a whole
//! large folio for a 4 KiB page, and read 19.4 KB a check-in where the disk received 7.4
//! (docs/benchmarks.md, twelfth round).

/// Clock ticks per second of `/proc/self/stat`'s CPU times: Linux reports them in
/// `USER_HZ`, which is 100 on the architectures it runs on here (`getconf CLK_TCK`).
const TICKS_PER_SEC: f64 = 100.0;

/// The process's CPU time so far, all threads, in seconds; `None` where
/// `/proc/self/stat` does not have it.
pub(super) fn cpu_secs() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    Some(cpu_ticks(&stat)? as f64 / TICKS_PER_SEC)
}

/// User plus system time, all threads, from a `/proc/<pid>/stat` line: fields 14 and 15.
/// The command name (field 2) is in parentheses and may hold spaces, so fields are counted
/// from after its closing one (field 3 first).
fn cpu_ticks(stat: &str) -> Option<u64> {
    let after = stat.get(stat.rfind(')')? + 1..)?;
    let fields: Vec<&str> = after.split_whitespace().collect();
    let field = |n: usize| fields.get(n - 3)?.parse::<u64>().ok();
    Some(field(14)? + field(15)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_cpu_time_past_a_command_name_with_spaces_and_parentheses() {
        let stat = "4242 (tokio (rt) x) S 1 4242 4242 0 -1 4194560 100 0 0 0 \
                    1234 567 0 0 20 0 9 0 100 0 0";
        assert_eq!(cpu_ticks(stat), Some(1234 + 567));
        assert_eq!(cpu_ticks("4242 (short) S 1"), None);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn this_process_is_readable_and_its_cpu_time_moves_forward() {
        let before = cpu_secs().expect("/proc/self/stat");
        let started = std::time::Instant::now();
        let mut x = 0u64;
        while started.elapsed() < std::time::Duration::from_millis(60) {
            x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
        }
        assert!(cpu_secs().unwrap() > before);
    }
}
