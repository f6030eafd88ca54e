//! Writes each fuzz target's seed corpus: `seeds DIR` puts valid inputs into `DIR/<target>/`,
//! one file per input named by a hash of its bytes (as libFuzzer names its own finds), so
//! running it again adds nothing twice.

use std::hash::{Hash, Hasher};
use std::path::PathBuf;

fn main() -> std::io::Result<()> {
    if let Err(why) = lienlock_fuzz_seeds::check() {
        eprintln!("seeds: stale fixture: {why}");
        std::process::exit(1);
    }
    let dir: PathBuf = std::env::args_os()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("corpus"));
    for (target, inputs) in lienlock_fuzz_seeds::seeds() {
        let to = dir.join(target);
        std::fs::create_dir_all(&to)?;
        for input in &inputs {
            let mut h = std::collections::hash_map::DefaultHasher::new();
            input.hash(&mut h);
            std::fs::write(to.join(format!("seed-{:016x}", h.finish())), input)?;
        }
        println!("{target}: {} seeds", inputs.len());
    }
    Ok(())
}
