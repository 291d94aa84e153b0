//! Libraries loaded at run time, on real packages from PyPI in a real
//! bookworm rootfs: /opt/loads-venv holds psycopg 3, python-magic and nine
//! more that load their library through ctypes or cffi
//! (`venvkit_suites::rootfs::LOADERS`); /opt/django-venv holds Django, whose
//! GIS modules load GEOS and GDAL. The build rootfs has the -dev packages
//! of some, as build images do; the runtime rootfs has Python and only the
//! packages find-libdeps lists.

mod support;

use std::path::Path;
use support::*;
use venvkit_common::root::Root;
use venvkit_elf::arch::AMD64;
use venvkit_suites::rootfs::{in_chroot, loaders_runtime, LOADERS, LOADER_LIBRARIES};

fn find(rootfs: &Path, args: &[&str]) -> Run {
    run(command().arg("--root").arg(rootfs).args(args))
}

fn installed(rootfs: &Path, package: &str) -> bool {
    let status = std::fs::read_to_string(rootfs.join("var/lib/dpkg/status")).unwrap();
    status.split("\n\n").any(|p| p.starts_with(&format!("Package: {package}\n")) && p.contains("ok installed"))
}

#[test]
fn every_library_the_loaders_load_is_listed_by_its_runtime_package_needs_root() {
    require_root();
    let rootfs = venv_rootfs();
    // Build images carry -dev packages: their unversioned links must not win.
    assert!(installed(&rootfs, "libpq-dev") && installed(&rootfs, "libhidapi-dev"));
    let run = find(&rootfs, &["/opt/loads-venv"]);
    assert_eq!(run.code(), 0, "{}", run.stderr);
    let listed: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(listed, LOADER_LIBRARIES, "{}", run.stderr);
    // Each edge says how it was found, where.
    let json = find(&rootfs, &["--format", "json", "/opt/loads-venv"]);
    let site = "/opt/loads-venv/lib/python3.11/site-packages";
    for (module, call, package) in [
        ("psycopg/pq/misc.py", "ctypes find_library", "libpq5"),
        ("magic/loader.py", "ctypes CDLL", "libmagic1"),
        ("cairocffi/__init__.py", "cffi dlopen", "libcairo2"),
        ("hid/__init__.py", "ctypes CDLL", "libhidapi-hidraw0"),
    ] {
        let how = format!("\"how\": \"{call} in {site}/{module}:");
        let edge =
            json.stdout.lines().find(|line| line.contains(&how)).unwrap_or_else(|| panic!("{how}\n{}", json.stdout));
        assert!(edge.contains(&format!("\"package\": \"{package}\"")), "{edge}");
    }
}

#[test]
fn the_venv_runs_in_a_runtime_with_only_the_listed_packages_needs_root() {
    require_root();
    let runtime = loaders_runtime();
    for (requirement, snippet) in LOADERS {
        let ran = in_chroot(&runtime, &format!("/opt/loads-venv/bin/python -c \"{snippet}\""));
        assert_eq!(ran.code(), 0, "{requirement}: {snippet}\n{}{}", ran.stdout, ran.stderr);
        if requirement.starts_with("psycopg==") {
            assert!(ran.stdout.starts_with("python "), "psycopg's ctypes implementation: {}", ran.stdout);
        }
    }
}

#[test]
fn check_passes_in_the_runtime_and_names_each_thing_missing_once_needs_root() {
    require_root();
    let runtime = loaders_runtime();
    let passed = find(&runtime, &["--check", "/opt/loads-venv"]);
    assert_eq!((passed.code(), passed.stdout.as_str()), (0, ""), "{}", passed.stderr);
    assert!(passed.stderr.contains("every library resolves"), "{}", passed.stderr);
    // The same image without libmagic and without Python: an overlay, so the
    // cached runtime stays whole.
    let layer = Scratch::new("check-overlay");
    for dir in ["upper", "work", "merged"] {
        layer.mkdir(dir);
    }
    let script =
        "set -e; mount -t overlay overlay -o \"lowerdir=$1,upperdir=$2/upper,workdir=$2/work\" \"$2/merged\"; \
        rm \"$2\"/merged/usr/lib/x86_64-linux-gnu/libmagic.so.1* \"$2\"/merged/usr/bin/python3.11; \
        exec \"$3\" --root \"$2/merged\" --check /opt/loads-venv";
    let failed = run(std::process::Command::new("unshare")
        .args(["--mount", "--propagation", "private", "sh", "-c", script, "sh"])
        .arg(&runtime)
        .arg(&layer.0)
        .arg(binary()));
    assert_eq!((failed.code(), failed.stdout.as_str()), (1, ""), "{}", failed.stderr);
    let lines: Vec<&str> = failed.stderr.lines().collect();
    assert_eq!(lines.len(), 2, "one line per missing item: {}", failed.stderr);
    assert!(lines.iter().any(|l| l.contains("magic/loader.py:") && l.contains("find_library('magic')")), "{lines:?}");
    assert!(
        lines
            .iter()
            .any(|l| l.contains("/opt/loads-venv/bin/python3: its interpreter /usr/bin/python3.11 does not exist")),
        "{lines:?}"
    );
}

#[test]
fn geodjango_is_listed_by_default_and_left_out_with_exclude_needs_root() {
    require_root();
    let rootfs = venv_rootfs();
    let run = find(&rootfs, &["/opt/django-venv"]);
    assert_eq!(run.code(), 0, "{}", run.stderr);
    assert!(run.stdout.lines().any(|p| p == "libgeos-c1v5"), "GEOS is in the build root: {}", run.stdout);
    let gdal = run.stderr.lines().find(|l| l.contains("django/contrib/gis/gdal/libgdal.py:")).expect(&run.stderr);
    assert!(gdal.starts_with("find-libdeps: warning: ") && gdal.contains("found nowhere"), "{gdal}");
    let excluded = find(&rootfs, &["--exclude", "*/django/contrib/gis/*", "/opt/django-venv"]);
    assert_eq!((excluded.code(), excluded.stdout.as_str()), (0, ""), "{}", excluded.stderr);
    assert!(!excluded.stderr.contains("/gis/"), "{}", excluded.stderr);
}

#[test]
fn a_recorded_run_adds_a_library_only_the_run_reveals_needs_root() {
    require_root();
    let rootfs = venv_rootfs();
    let tree = Scratch::under(&rootfs.join("srv"), "recorded");
    let inner = format!("/srv/{}", tree.0.file_name().unwrap().to_str().unwrap());
    // The name comes from the environment: static reading cannot know it.
    tree.write(
        "app/compress.py",
        b"import ctypes, os\nlib = ctypes.CDLL(os.environ.get('COMPRESSOR', 'libbz2.so.1.0'))\n",
    );
    let read = find(&rootfs, &["-v", &inner]);
    assert_eq!((read.code(), read.stdout.as_str()), (0, ""), "{}", read.stderr);
    assert!(read.stderr.contains("compress.py:2: ctypes CDLL of a name computed at run time"), "{}", read.stderr);
    let recorded = in_chroot(
        &rootfs,
        &format!(
            "cd {inner}/app && python3 -c 'import compress; print(open(\"/proc/self/maps\").read())' > {inner}/maps"
        ),
    );
    assert_eq!(recorded.code(), 0, "{}", recorded.stderr);
    let maps = tree.path("maps");
    let run = find(&rootfs, &["--loaded", maps.to_str().unwrap(), &inner]);
    assert_eq!(run.code(), 0, "{}", run.stderr);
    assert!(run.stdout.lines().any(|p| p == "libbz2-1.0"), "{}", run.stdout);
    let json = find(&rootfs, &["--format", "json", "--loaded", maps.to_str().unwrap(), &inner]);
    let edge = json.stdout.lines().find(|l| l.contains("libbz2.so.1.0")).expect(&json.stdout);
    assert!(edge.contains(&format!("\"how\": \"recorded in {}\"", maps.display())), "{edge}");
    // glibc's own record, one file per process in a directory.
    let recorded = in_chroot(
        &rootfs,
        &format!("mkdir {inner}/ld && cd {inner}/app && LD_DEBUG=libs LD_DEBUG_OUTPUT={inner}/ld/ld python3 -c 'import compress'"),
    );
    assert_eq!(recorded.code(), 0, "{}", recorded.stderr);
    let run = find(&rootfs, &["--loaded", tree.path("ld").to_str().unwrap(), &inner]);
    assert_eq!(run.code(), 0, "{}", run.stderr);
    assert!(run.stdout.lines().any(|p| p == "libbz2-1.0"), "{}", run.stdout);
}

#[test]
fn find_library_answers_as_ctypes_does_in_the_rootfs_needs_root() {
    require_root();
    let rootfs = venv_rootfs();
    let names = [
        "pq",
        "magic",
        "zbar",
        "archive",
        "dmtx",
        "cairo",
        "cairo-2",
        "portaudio",
        "usb-1.0",
        "enchant-2",
        "hidapi-hidraw",
        "sodium",
        "c",
        "m",
        "z",
        "ssl",
        "crypto",
        "ffi",
        "geos_c",
        "gdal",
        "xml2",
        "no-such-venvkit",
    ];
    let script = format!(
        "python3 -c 'import ctypes.util, sys; print(*[ctypes.util.find_library(n) for n in sys.argv[1:]], sep=\"\\n\")' {}",
        names.join(" ")
    );
    let python = in_chroot(&rootfs, &script);
    assert_eq!(python.code(), 0, "{}", python.stderr);
    let cache =
        find_libdeps::ldcache::LdCache::read(&Root::new(&rootfs), &AMD64).unwrap().expect("the rootfs has a cache");
    let ours: Vec<String> = names
        .iter()
        .map(|name| cache.find_library(name).map_or("None".to_string(), |(key, _)| key.to_string()))
        .collect();
    assert_eq!(ours, python.stdout.lines().collect::<Vec<_>>());
}
