//! `make bench`: find-libdeps on real venvs in a bookworm rootfs, against
//! snakepacker's `find | xargs ldd | xargs dpkg-query -S` pipeline,
//! `dpkg-shlibdeps`, and a bare walk that only reads each file's first four
//! bytes (the least any scanner must do). Medians, and ratios.

#[path = "../tests/support/mod.rs"]
mod support;

use std::os::unix::fs::FileTypeExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use venvkit_suites::bin_dir;
use venvkit_suites::fixtures::{median, ms};

const PIPELINE: &str = "find \"$0\" -iname '*.so' | xargs ldd 2>/dev/null | grep '=>' | awk '{print $3}' | sort -u \
    | xargs dpkg-query -S 2>/dev/null | cut -d: -f1 | sort -u";

const SHLIBDEPS: &str = "mkdir -p /tmp/venvkit-bench/debian && cd /tmp/venvkit-bench \
    && printf 'Source: b\\n\\nPackage: b\\nArchitecture: any\\n' > debian/control \
    && find \"$0\" -type f -exec sh -c 'head -c4 \"$1\" | grep -q ELF && echo \"$1\"' _ {} \\; \
    | xargs dpkg-shlibdeps -O >/dev/null 2>&1";

fn main() {
    let venvs = support::venv_rootfs();
    let bench = venvkit_suites::rootfs::bench_venv();
    let ours = bin_dir().join("find-libdeps");
    for (rootfs, venv) in [(&venvs, "/opt/source-venv"), (&venvs, "/opt/wheel-venv"), (&bench, "/opt/bench-venv")] {
        std::fs::copy(&ours, rootfs.join("usr/local/bin/find-libdeps")).unwrap();
        let files = count_files(&rootfs.join(venv.trim_start_matches('/')));
        println!("{venv}: {files} files\n");
        println!("{:<40} {:>12} {:>10}", "median", "time", "ratio");
        let chroot = |script: &str| {
            let mut command = Command::new("chroot");
            command.arg(rootfs).args(["sh", "-c", script, venv]);
            command
        };
        let ours_time = median(20, || timed(&mut chroot("exec find-libdeps \"$0\"")));
        let walk = median(20, || {
            let started = Instant::now();
            bare_walk(&rootfs.join(venv.trim_start_matches('/')));
            started.elapsed()
        });
        let pipeline = median(5, || timed(&mut chroot(PIPELINE)));
        let row = |what: &str, time: Duration| {
            println!("{what:<40} {:>9.1} ms {:>9.1}x", ms(time), ms(time) / ms(ours_time));
        };
        row("find-libdeps (in the rootfs)", ours_time);
        row("bare walk, 4 bytes a file (in-process)", walk);
        row("find | ldd | dpkg-query pipeline", pipeline);
        if venv != "/opt/bench-venv" {
            let shlibdeps = median(3, || timed(&mut chroot(SHLIBDEPS)));
            row("dpkg-shlibdeps on every ELF file", shlibdeps);
        }
        println!("goals: <= 1.5x the bare walk; >= 10x faster than the pipeline\n");
    }
}

fn timed(command: &mut Command) -> Duration {
    let started = Instant::now();
    let status = command.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null()).status().unwrap();
    assert!(status.success() || status.code() == Some(123), "{command:?}: {status}");
    started.elapsed()
}

/// Every regular file's first four bytes, and nothing else.
fn bare_walk(dir: &Path) -> usize {
    let mut elf = 0;
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let Ok(kind) = entry.file_type() else { continue };
            if kind.is_dir() {
                pending.push(entry.path());
            } else if kind.is_file() && !kind.is_fifo() {
                let mut magic = [0u8; 4];
                if let Ok(mut file) = std::fs::File::open(entry.path()) {
                    if std::io::Read::read_exact(&mut file, &mut magic).is_ok() && magic == *b"\x7fELF" {
                        elf += 1;
                    }
                }
            }
        }
    }
    elf
}

fn count_files(dir: &Path) -> usize {
    let mut count = 0;
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            match entry.file_type() {
                Ok(kind) if kind.is_dir() => pending.push(entry.path()),
                Ok(_) => count += 1,
                Err(_) => {}
            }
        }
    }
    count
}
