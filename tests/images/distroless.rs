//! The shell-less runtimes (`venvkit/python:<pyver>-<suite>-distroless`):
//! no shell, what Python needs working as uid 65532 on a read-only root,
//! every ELF file resolving, every file's package in metadata another
//! reader can read, and `apt-install --root` staging packages for them.

use crate::support::*;

pub const STDLIB_CHECK: &str = r#"
import ssl, sqlite3, zoneinfo, decimal, ctypes, ctypes.util, datetime, socket, mimetypes
cas = ssl.create_default_context().cert_store_stats()["x509_ca"]
assert cas >= 100, f"only {cas} CAs"
assert sqlite3.connect(":memory:").execute("select 1").fetchone() == (1,)
summer = datetime.datetime(2024, 7, 1, tzinfo=zoneinfo.ZoneInfo("Europe/Paris"))
assert summer.utcoffset() == datetime.timedelta(hours=2)
assert decimal.Decimal("0.1") + decimal.Decimal("0.2") == decimal.Decimal("0.3")
assert ctypes.CDLL("libc.so.6").getpid() > 0
assert ctypes.util.find_library("c") == "libc.so.6", ctypes.util.find_library("c")
assert socket.getservbyname("https") == 443
assert mimetypes.guess_type("a.json")[0] == "application/json"
print("ok", cas)
"#;

#[test]
fn there_is_no_shell_and_a_shell_form_run_fails() {
    let engine = engine_with_images();
    for (suite, _) in suites() {
        let image = distroless(suite);
        for shell in ["/bin/sh", "/bin/bash", "/usr/bin/dpkg", "/usr/bin/apt-get", "/usr/bin/perl", "/bin/ls"] {
            let ran = engine.run(&["run", "--rm", "--network=none", "--entrypoint", shell, &image]);
            assert_ne!(ran.code(), 0, "{image} has {shell}");
        }
        let context = Scratch::new("shell-form");
        context.write("Dockerfile", format!("FROM {image}\nRUN true\n"));
        let built = engine.build(&context.0, "venvkit-test/shell-form:latest", &[]);
        assert_ne!(built.code(), 0, "a shell-form RUN worked in {image}");
    }
}

#[test]
fn python_works_as_the_app_user_on_a_read_only_root() {
    let engine = engine_with_images();
    for (suite, _) in suites() {
        let image = distroless(suite);
        let ran = engine.run(&["run", "--rm", "--network=none", "--read-only", &image, "python", "-c", STDLIB_CHECK]);
        assert_eq!(ran.code(), 0, "{image}: {}", ran.stderr);
        assert!(ran.stdout.starts_with("ok "), "{image}: {}", ran.stdout);
        assert_eq!(engine.inspect(&image, "{{.Config.User}}"), "65532", "{image}");
        let who = engine.run(&[
            "run",
            "--rm",
            "--network=none",
            &image,
            "python",
            "-c",
            "import os, pwd; print(pwd.getpwuid(os.getuid()).pw_name)",
        ]);
        assert_eq!(who.stdout.trim(), "app", "{image}: {}", who.stderr);
        let version = engine.run(&["run", "--rm", "--network=none", &python(suite), "python", "-V"]);
        assert_eq!(version.code(), 0, "`python` in {}: {}", python(suite), version.stderr);
    }
}

/// The image's files, exported into a scratch directory.
pub fn export(engine: &Engine, image: &str, into: &Scratch) {
    let created = engine.run(&["create", image]);
    assert_eq!(created.code(), 0, "{}", created.stderr);
    let id = created.stdout.trim().to_string();
    let tar = into.path("image.tar");
    let exported = engine.run(&["export", "-o", tar.to_str().unwrap(), &id]);
    engine.run(&["rm", "-f", &id]);
    assert_eq!(exported.code(), 0, "{}", exported.stderr);
    let root = into.mkdir("root");
    let unpacked = run(std::process::Command::new("tar").arg("-xf").arg(&tar).arg("-C").arg(&root));
    assert_eq!(unpacked.code(), 0, "{}", unpacked.stderr);
}

/// Python with python-debian, on this machine (make test installs it).
const OWNERS: &str = r#"
import os, sys
from debian.deb822 import Deb822
root = sys.argv[1]
status_d = os.path.join(root, "var/lib/dpkg/status.d")
owned, names = set(), []
for name in sorted(os.listdir(status_d)):
    if name.endswith(".md5sums"):
        continue
    with open(os.path.join(status_d, name)) as f:
        record = Deb822(f)
    assert record["Package"] == name and record["Version"], name
    names.append(name)
    # Conffiles are not in md5sums: dpkg lists them in the record's field.
    for line in record.get("Conffiles", "").splitlines():
        if line.split():
            owned.add(os.path.realpath(os.path.join(root, line.split()[0].lstrip("/"))))
    with open(os.path.join(status_d, name + ".md5sums")) as f:
        for line in f:
            path = line.split(None, 1)[1].strip()
            owned.add(os.path.realpath(os.path.join(root, path)))
# Files venvkit makes, not a package.
made = {"etc/passwd", "etc/group", "etc/ld.so.cache", "etc/ssl/certs/ca-certificates.crt", "etc/localtime",
        "etc/timezone"}
unowned = []
for dirpath, dirs, files in os.walk(root):
    for file in files:
        path = os.path.join(dirpath, file)
        inner = os.path.relpath(path, root)
        if inner in made or inner.startswith(("usr/local/bin/", "var/lib/dpkg/status.d/", "image.tar")):
            continue
        # Generated in the image, as Debian's own postinst and ldconfig
        # generate them, and no dpkg database lists them either: byte code
        # and ldconfig's auxiliary cache.
        if "/__pycache__/" in inner or inner.startswith("var/cache/ldconfig/"):
            continue
        if os.path.islink(path):
            continue
        if os.path.realpath(path) not in owned:
            unowned.append(inner)
print(len(names), "packages")
for inner in unowned[:20]:
    print("unowned:", inner)
sys.exit(1 if unowned else 0)
"#;

#[test]
fn every_elf_file_resolves_and_every_file_is_in_the_package_metadata() {
    let engine = engine_with_images();
    for (suite, _) in suites() {
        let image = distroless(suite);
        let dir = Scratch::new("distroless-export");
        export(&engine, &image, &dir);
        let root = dir.path("root");
        // From outside, with find-libdeps (status.d read as dpkg's database).
        let finder = venvkit_suites::bin_dir().join("find-libdeps");
        let listed = run(std::process::Command::new(&finder).arg("--root").arg(&root).args(["/usr/bin", "/usr/lib"]));
        assert_eq!(listed.code(), 0, "{image}: {}", listed.stderr);
        // Exit 0: every soname resolved, in the image and owned by a package of
        // its metadata. Libraries in the given trees count as the trees' own,
        // so only what lies outside them (the loader's libc6) is listed.
        assert!(listed.stdout.lines().any(|p| p == "libc6"), "{image}: libc6 in {}", listed.stdout);
        // The same answer as on the Debian runtime with its dpkg database,
        // for the same files (the standard library's extension modules).
        let full = Scratch::new("python-export");
        export(&engine, &python(suite), &full);
        let stdlib = |root: &std::path::Path| {
            let dynload = std::fs::read_dir(root.join("usr/lib"))
                .unwrap()
                .flatten()
                .map(|entry| entry.path().join("lib-dynload"))
                .find(|path| path.is_dir())
                .unwrap_or_else(|| panic!("no lib-dynload in {}", root.display()));
            let inside = std::path::Path::new("/").join(dynload.strip_prefix(root).unwrap());
            let listed = run(std::process::Command::new(&finder).arg("--root").arg(root).arg(&inside));
            assert_eq!(listed.code(), 0, "{}: {}", root.display(), listed.stderr);
            listed.stdout
        };
        let shell_less = stdlib(&root);
        assert!(shell_less.lines().any(|p| p.starts_with("libssl3")), "{image}: {shell_less}");
        assert_eq!(shell_less, stdlib(&full.path("root")), "{image} and {} disagree", python(suite));
        // With the image's own loader, on each ELF file it has.
        let script = r#"import os, subprocess
bad = []
for top in ("/usr/bin", "/usr/lib", "/usr/sbin"):
    for d, _, fs in os.walk(top):
        for f in fs:
            p = os.path.join(d, f)
            if os.path.islink(p) or open(p, "rb").read(4) != b"\x7fELF":
                continue
            out = subprocess.run(["/lib64/ld-linux-x86-64.so.2", "--list", p], capture_output=True, text=True)
            if "not found" in out.stdout + out.stderr:
                bad.append(p)
print(bad)"#;
        let loader = engine.run(&["run", "--rm", "--network=none", &image, "python", "-c", script]);
        assert_eq!((loader.code(), loader.stdout.trim()), (0, "[]"), "{image}: {}", loader.stderr);
        // Every file belongs to a package of the metadata, read by python-debian.
        // Debian's Python, where python3-debian is (a python3 earlier on PATH may lack it).
        let owners = run(std::process::Command::new("/usr/bin/python3").args(["-c", OWNERS]).arg(&root));
        assert_eq!(owners.code(), 0, "{image}: {}{}", owners.stdout, owners.stderr);
    }
}

/// A build stage that stages packages for the bookworm shell-less runtime
/// and leaves what it did in /result.
fn stage(engine: &Engine, script: &str) -> Run {
    let context = Scratch::new("apt-install-root");
    context.write(
        "Dockerfile",
        format!(
            "FROM {}\nRUN --mount=type=bind,from={},target=/runtime {script}\n",
            base("bookworm"),
            distroless("bookworm")
        ),
    );
    let tag = format!("venvkit-test/apt-install-root:{}", std::process::id());
    let built = engine.build(&context.0, &tag, &["--no-cache"]);
    if built.code() == 0 {
        let result = engine.run(&["run", "--rm", "--network=none", "--entrypoint", "cat", &tag, "/result"]);
        engine.remove_image(&tag);
        return result;
    }
    built
}

const LEAVE_OUT: &str = "--leave-out dpkg,debconf,perl-base,tar,openssl";

#[test]
fn apt_install_root_stages_exactly_what_the_runtime_lacks() {
    let engine = engine_with_images();
    let staged = stage(
        &engine,
        &format!(
            "apt-install --root /staging --over /runtime {LEAVE_OUT} libc6 zlib1g libpq5 \
             && ls /staging/var/lib/dpkg/status.d | grep -v md5sums > /result \
             && echo -- >> /result \
             && ls /runtime/var/lib/dpkg/status.d > /present && apt-get update -qq \
             && apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts --no-breaks \
                --no-replaces --no-enhances libpq5 | grep -v -e '^ ' -e '^<' | sort -u \
                | grep -vxF -f /present >> /result"
        ),
    );
    assert_eq!(staged.code(), 0, "{}{}", staged.stdout, staged.stderr);
    let (added, expected) = staged.stdout.split_once("--\n").unwrap_or_else(|| panic!("{}", staged.stdout));
    // libpq5's closure (as apt-cache computes it) minus what the runtime has
    // (libc6, libssl3, the Kerberos libraries): LDAP's, SASL's and GnuTLS's.
    // libc6 and zlib1g, named as find-libdeps names them, are there already:
    // not staged again.
    assert_eq!(added, expected);
    for package in ["libpq5", "libldap-2.5-0", "libgnutls30"] {
        assert!(added.lines().any(|line| line == package), "{package} not staged: {added}");
    }
}

#[test]
fn a_refused_package_or_a_failed_download_leaves_the_root_as_it_was() {
    let engine = engine_with_images();
    // Each snapshot lists DIR and everything below it with sizes and mtimes to
    // the nanosecond, but not DIR's parent: `ls -laR`'s `..` line is `/`,
    // which the snapshots themselves change.
    let snapshot = "find /staging -printf '%p %y %s %T@ %m\\n' | sort";
    let script = format!(
        "mkdir -p /staging/etc && echo before > /staging/etc/marker && {snapshot} > /before \
         && {{ apt-install --root /staging --over /runtime {LEAVE_OUT} netcat-openbsd 2> /refused; echo $? >> /refused; }} \
         && {snapshot} > /after-refused \
         && apt-get update -qq \
         && {{ http_proxy=http://127.0.0.1:9 apt-install --retries 1 --allow-update-errors --root /staging \
               --over /runtime {LEAVE_OUT} libpq5 2> /failed; echo $? >> /failed; }} \
         && {snapshot} > /after-failed \
         && {{ cat /refused /failed; \
               if cmp -s /before /after-refused && cmp -s /before /after-failed; then echo unchanged; \
               else diff /before /after-refused; diff /before /after-failed; fi; true; }} > /result"
    );
    let staged = stage(&engine, &script);
    assert_eq!(staged.code(), 0, "{}{}", staged.stdout, staged.stderr);
    let text = staged.stdout;
    assert!(text.contains("netcat-openbsd: its postinst"), "{text}");
    assert!(text.lines().any(|l| l == "1"), "exit 1: {text}");
    assert!(text.trim_end().ends_with("unchanged"), "{text}");
}
