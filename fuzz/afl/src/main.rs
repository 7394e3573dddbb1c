//! The AFL++ harness of imvault's fuzz targets (`imvault::fuzz::targets()`, the same parsers
//! `cargo test fuzz` exercises with generated inputs).
//!
//! `imvault-afl TARGET` runs one target under AFL++ (input on stdin, as `cargo afl fuzz`
//! gives it); `imvault-afl --seeds TARGET DIR` writes the target's start corpus (its valid
//! encodings and every input of `fuzz/corpus/TARGET/`) into DIR; `imvault-afl --list` names the
//! targets. An input fails when its parser panics or allocates more than
//! `imvault::fuzz::ALLOC_BOUND` (plus 64 bytes per input byte) at once: the harness then aborts,
//! which AFL++ records as a crash.

use imvault::fuzz::{self, Target, TrackingAlloc};

#[global_allocator]
static ALLOC: TrackingAlloc = TrackingAlloc;

fn target(name: &str) -> Target {
    fuzz::targets()
        .into_iter()
        .find(|t| t.name == name)
        .unwrap_or_else(|| {
            let names: Vec<_> = fuzz::targets().iter().map(|t| t.name).collect();
            eprintln!("unknown fuzz target {name:?}; the targets: {}", names.join(", "));
            std::process::exit(2)
        })
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
        ["--list"] => {
            for t in fuzz::targets() {
                println!("{}", t.name);
            }
        }
        ["--seeds", name, dir] => {
            let t = target(name);
            std::fs::create_dir_all(dir).expect("create the seed directory");
            for (i, input) in fuzz::corpus(&t).iter().enumerate() {
                let file = std::path::Path::new(dir).join(format!("seed-{i:04}"));
                std::fs::write(&file, input).expect("write a seed");
            }
        }
        [name] => {
            let t = target(name);
            afl::fuzz!(|data: &[u8]| {
                if let Err(why) = fuzz::try_input(&t, data) {
                    panic!("{}: {why}", t.name);
                }
            });
        }
        _ => {
            eprintln!("usage: imvault-afl TARGET | --seeds TARGET DIR | --list");
            std::process::exit(2)
        }
    }
}
