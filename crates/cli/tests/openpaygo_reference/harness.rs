//! The plumbing of the OpenPAYGO reference cross-check: a throwaway virtual environment
//! with the pinned reference, the JSON-lines oracle process, and a seeded random source.

use serde_json::Value;
use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

fn reference_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/openpaygo_reference")
}

/// Gives up on the cross-check: a failure under CI, a skip elsewhere.
pub fn unavailable(why: &str) {
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("the OpenPAYGO reference cross-check needs python3 with venv and the package index, and CI=true: {why}");
    }
    eprintln!("skipping the OpenPAYGO reference cross-check: {why}");
}

/// Runs a command to completion within `limit`, its output going to `log`.
fn run_bounded(cmd: &mut Command, limit: Duration, log: &Path) -> Result<(), String> {
    let out = File::create(log).map_err(|e| e.to_string())?;
    let err = out.try_clone().map_err(|e| e.to_string())?;
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
        .map_err(|e| format!("cannot run {cmd:?}: {e}"))?;
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().map_err(|e| e.to_string())? {
            if status.success() {
                return Ok(());
            }
            let log = std::fs::read_to_string(log).unwrap_or_default();
            return Err(format!("{cmd:?} failed ({status}):\n{log}"));
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!("{cmd:?} took longer than {limit:?}"));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A virtual environment with the pinned reference (requirements.txt) in `dir`; its
/// python. The venv is made without pip and filled by the host's pip (`--python`, pip 22.3
/// and later), which takes seconds where bootstrapping pip into the venv takes ten; when
/// the host has no such pip, the venv gets its own.
pub fn install_reference(dir: &Path) -> Result<PathBuf, String> {
    let venv = dir.join("venv");
    let python = venv.join("bin").join("python");
    let requirements = reference_dir().join("requirements.txt");
    let log = dir.join("setup.log");
    run_bounded(
        Command::new("python3")
            .args(["-m", "venv", "--without-pip"])
            .arg(&venv),
        Duration::from_secs(60),
        &log,
    )?;
    let install = |cmd: &mut Command| {
        run_bounded(
            cmd.args([
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "--no-input",
            ])
            .args(["--timeout", "30", "--retries", "2", "-r"])
            .arg(&requirements)
            .env("PIP_NO_CACHE_DIR", "1"),
            Duration::from_secs(240),
            &log,
        )
    };
    let host_has_pip = Command::new("python3")
        .args(["-m", "pip", "--version"])
        .output()
        .is_ok_and(|out| out.status.success());
    let host_pip = if host_has_pip {
        install(
            Command::new("python3")
                .args(["-m", "pip", "--python"])
                .arg(&python),
        )
    } else {
        Err("no such option: --python (the host has no pip)".to_string())
    };
    match host_pip {
        Ok(()) => {}
        // Only a pip too old for `--python` (or none) is worth the slow route; a network
        // failure would fail there too.
        Err(why) if why.contains("no such option: --python") => {
            run_bounded(
                Command::new(&python).args(["-m", "ensurepip", "--default-pip"]),
                Duration::from_secs(120),
                &log,
            )?;
            install(Command::new(&python).args(["-m", "pip"]))?;
        }
        Err(why) => return Err(why),
    }
    Ok(python)
}

/// The reference behind its pipe. Killed when dropped.
pub struct Oracle {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    pub calls: usize,
}

impl Oracle {
    pub fn start(python: &Path) -> Self {
        let mut child = Command::new(python)
            .arg(reference_dir().join("oracle.py"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take().unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        Self {
            child,
            stdin,
            stdout,
            calls: 0,
        }
    }

    pub fn ask(&mut self, request: Value) -> Value {
        writeln!(self.stdin, "{request}").unwrap();
        self.stdin.flush().unwrap();
        let mut line = String::new();
        self.stdout.read_line(&mut line).unwrap();
        assert!(!line.is_empty(), "the reference exited on {request}");
        self.calls += 1;
        serde_json::from_str(&line).unwrap()
    }
}

impl Drop for Oracle {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// SplitMix64: small, seedable, and the same on every platform.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    pub fn one_in(&mut self, n: u64) -> bool {
        self.below(n) == 0
    }
    pub fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len() as u64) as usize]
    }
}
