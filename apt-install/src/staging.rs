//! `--root DIR`: packages installed into a staging root for an image without
//! a shell or dpkg (copied over it with `COPY --from=stage DIR /`). apt
//! resolves and downloads, checking signatures; `dpkg-deb` unpacks; there
//! is no dpkg database in DIR and no maintainer script runs.
//!
//! - **What counts as there already**: the packages in DIR's metadata and
//!   in each `--over` root's (an image mounted with `RUN --mount=type=bind`),
//!   and those `--leave-out` names, which a shell-less image does not want
//!   although others depend on them (dpkg, debconf, perl-base: their users
//!   need them only in maintainer scripts). apt resolves against a status
//!   file made of these alone (`Dir::State::status`), not the build stage's.
//! - **Metadata** as distroless lays it out, one file per package, so that a
//!   later layer adding packages rewrites none of the base's files:
//!   `var/lib/dpkg/status.d/<package>` (its control paragraph, with Status)
//!   and `status.d/<package>.md5sums` (its files). dpkg-query does not read
//!   it; scanners (syft, trivy, grype) and find-libdeps do.
//! - **Maintainer scripts**: each one is known and either reproduced here
//!   (`ldconfig`, the CA bundle, the time zone) or needless in an image
//!   (byte-compiling Python, restarting services on upgrade); a package with
//!   any other script is refused with one line naming it, before anything
//!   is written.
//! - **All or nothing**: everything is unpacked into a directory beside DIR
//!   first; DIR is changed only once every package is unpacked and checked.
//! - **Layout**: merged /usr (Debian 12 and later): files a package ships
//!   under /lib, /bin, /sbin land under /usr, and DIR gets the top-level
//!   links, so that DIR copied over a Debian image agrees with it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use venvkit_common::diag::Diag;
use venvkit_common::root::Root;
use venvkit_dpkg::{Database, State};

/// What the maintainer scripts of a package do, where venvkit knows.
struct Known {
    /// A package name, a prefix ending in `*`, or a suffix after `*`.
    package: &'static str,
    /// Why skipping its scripts is right, for `-v`.
    why: &'static str,
}

/// Packages whose preinst/postinst/prerm/postrm do nothing a shell-less
/// image needs, or only what [`finish`] reproduces. Any other package with
/// a script is refused.
const KNOWN_SCRIPTS: &[Known] = &[
    Known { package: "libc6", why: "checks the kernel and restarts services on upgrades" },
    Known { package: "libc-bin", why: "runs ldconfig, which apt-install runs for the root" },
    Known { package: "python3*", why: "byte-compiles Python modules; they compile in memory when imported" },
    Known { package: "libpython3*", why: "byte-compiles Python modules; they compile in memory when imported" },
    Known { package: "tzdata", why: "sets the time zone from debconf; apt-install sets Etc/UTC" },
    Known { package: "ca-certificates", why: "builds the CA bundle, which apt-install builds" },
    Known { package: "openssl", why: "links /usr/lib/ssl to /etc/ssl, which libssl3 has already made" },
    Known { package: "readline-common", why: "registers info pages, which are excluded" },
    Known { package: "libgssapi-krb5-2", why: "migrates an old /usr/etc/gss/mech on upgrades" },
    Known { package: "media-types", why: "none needed" },
    Known { package: "netbase", why: "none needed" },
    Known {
        package: "mariadb-common",
        why: "points the my.cnf alternative at mariadb.cnf; libmariadb3 reads option files only when a client \
              asks it to (read_default_file)",
    },
    Known {
        package: "mysql-common",
        why: "registers /etc/mysql/my.cnf.fallback as the my.cnf alternative; the same as mariadb-common's",
    },
    Known {
        package: "*t64",
        why: "diverts and renames for the time_t and merged-/usr transitions, moot in a fresh merged root",
    },
];

/// Trigger interests and activations whose work is [`finish`]'s.
fn known_trigger(line: &str) -> bool {
    let words: Vec<&str> = line.split_whitespace().collect();
    matches!(words.as_slice(), [] | ["activate-noawait" | "activate", "ldconfig"]) || line.trim_start().starts_with('#')
}

fn known(package: &str) -> Option<&'static Known> {
    KNOWN_SCRIPTS.iter().find(|known| match (known.package.strip_suffix('*'), known.package.strip_prefix('*')) {
        (Some(prefix), _) => package.starts_with(prefix),
        (_, Some(suffix)) => package.ends_with(suffix),
        _ => package == known.package,
    })
}

/// The staging job's own options.
#[derive(Clone, Debug, Default)]
pub struct Staging {
    pub root: PathBuf,
    /// Roots whose packages count as installed (the image DIR goes on).
    pub over: Vec<PathBuf>,
    /// Packages counted as installed and never unpacked.
    pub leave_out: Vec<String>,
}

/// One downloaded package, unpacked beside DIR.
struct Unpacked {
    name: String,
    deb: PathBuf,
    control: PathBuf,
}

/// Why staging did not happen; DIR is unchanged.
#[derive(Debug)]
pub enum StagingError {
    Usage(String),
    /// A package with a maintainer script venvkit does not know.
    Refused(String),
    Failed(String),
}

impl std::fmt::Display for StagingError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StagingError::Usage(why) | StagingError::Refused(why) | StagingError::Failed(why) => f.write_str(why),
        }
    }
}

/// The paragraphs of a status file that says what is there already: DIR's
/// and the `--over` roots' packages, and the left-out ones as apt knows
/// them (`candidates`: name -> its `apt-cache show` paragraph).
pub fn present_status(staging: &Staging, candidates: &BTreeMap<String, String>) -> Result<String, StagingError> {
    let mut paragraphs = BTreeMap::new();
    for root in std::iter::once(&staging.root).chain(&staging.over) {
        let admin = root.join("var/lib/dpkg");
        if !admin.join("status").exists() && !admin.join("status.d").is_dir() {
            continue;
        }
        let database = Database::open(&Root::new(root))
            .map_err(|err| StagingError::Usage(format!("{}: {} (its package metadata)", root.display(), err.0)))?;
        for package in database.packages.iter().filter(|p| p.state == State::Installed) {
            let mut paragraph = format!(
                "Package: {}\nStatus: install ok installed\nArchitecture: {}\nVersion: {}\n",
                package.id.name, package.id.arch, package.version
            );
            if let Some(provides) = &package.provides {
                paragraph.push_str(&format!("Provides: {provides}\n"));
            }
            // As written, so that apt sees the archive's build of this
            // version as the one installed, not a new one to install again.
            if package.installed_size_kib > 0 {
                paragraph.push_str(&format!("Installed-Size: {}\n", package.installed_size_kib));
            }
            for (field, value) in &package.apt_identity {
                paragraph.push_str(&format!("{field}: {value}\n"));
            }
            paragraphs.insert(package.id.name.clone(), paragraph);
        }
    }
    for name in &staging.leave_out {
        let shown = candidates.get(name).ok_or_else(|| {
            StagingError::Usage(format!("--leave-out {name}: apt knows no such package (check the name)"))
        })?;
        let kept: String = shown
            .lines()
            .filter(|line| {
                ["Package:", "Version:", "Architecture:", "Multi-Arch:", "Provides:", "Essential:"]
                    .iter()
                    .any(|field| line.starts_with(field))
            })
            .map(|line| format!("{line}\n"))
            .collect();
        // Held, so that apt never plans to upgrade or reinstall what it
        // thinks is there: it would download it.
        paragraphs.insert(name.clone(), format!("{kept}Status: hold ok installed\n"));
    }
    Ok(paragraphs.into_values().map(|p| p + "\n").collect())
}

/// Unpacks the downloaded `.deb`s beside DIR, checks their scripts, then
/// moves everything into DIR and writes its metadata; a refusal or a
/// failure leaves DIR as it was. Returns the names added.
pub fn unpack_into(staging: &Staging, debs: &[PathBuf], diag: Diag) -> Result<Vec<String>, StagingError> {
    let failed = |what: &str, err: &dyn std::fmt::Display| StagingError::Failed(format!("{what}: {err}"));
    let parent = staging.root.parent().unwrap_or(Path::new("/"));
    let work = tempfile_dir(parent).map_err(|err| failed("cannot make a work directory", &err))?;
    let result = unpack_in(staging, debs, &work, diag);
    let _ = std::fs::remove_dir_all(&work);
    result
}

fn unpack_in(staging: &Staging, debs: &[PathBuf], work: &Path, diag: Diag) -> Result<Vec<String>, StagingError> {
    let mut unpacked = Vec::new();
    for deb in debs {
        let name = dpkg_deb(&["--field"], deb, &["Package"])?.trim().to_string();
        let control = work.join("control").join(&name);
        std::fs::create_dir_all(&control)
            .map_err(|err| StagingError::Failed(format!("{}: {err}", control.display())))?;
        dpkg_deb(&["--control"], deb, &[control.to_str().unwrap_or_default()])?;
        unpacked.push(Unpacked { name, deb: deb.clone(), control });
    }
    // Every script is judged before anything is unpacked.
    for package in &unpacked {
        check_scripts(package, diag)?;
    }
    let tree = work.join("tree");
    for package in &unpacked {
        dpkg_deb(&["--extract"], &package.deb, &[tree.to_str().unwrap_or_default()])?;
    }
    remove_excluded(&tree, &dpkg_excludes(Path::new("/etc/dpkg/dpkg.cfg.d")));
    // Nothing can fail from here on but the filesystem itself.
    merge_usr_links(&staging.root).map_err(|err| StagingError::Failed(format!("{}: {err}", staging.root.display())))?;
    move_tree(&tree, &staging.root, Path::new("/"))
        .map_err(|err| StagingError::Failed(format!("moving into {}: {err}", staging.root.display())))?;
    let status_d = staging.root.join("var/lib/dpkg/status.d");
    std::fs::create_dir_all(&status_d).map_err(|err| StagingError::Failed(format!("{}: {err}", status_d.display())))?;
    for package in &unpacked {
        write_metadata(package, &staging.root, &status_d)?;
    }
    finish(&staging.root, &unpacked, staging.over.is_empty(), diag)?;
    Ok(unpacked.into_iter().map(|package| package.name).collect())
}

fn dpkg_deb(action: &[&str], deb: &Path, rest: &[&str]) -> Result<String, StagingError> {
    let output = Command::new("dpkg-deb").args(action).arg(deb).args(rest).output().map_err(|err| {
        StagingError::Failed(format!(
            "cannot run dpkg-deb: {} (the build stage needs dpkg)",
            venvkit_common::io::plain(&err)
        ))
    })?;
    if !output.status.success() {
        let why = String::from_utf8_lossy(&output.stderr);
        return Err(StagingError::Failed(format!("dpkg-deb {}: {}", deb.display(), why.trim())));
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

fn check_scripts(package: &Unpacked, diag: Diag) -> Result<(), StagingError> {
    let scripts: Vec<&str> = ["preinst", "postinst", "prerm", "postrm", "config"]
        .into_iter()
        .filter(|script| package.control.join(script).exists())
        .collect();
    let triggers = std::fs::read_to_string(package.control.join("triggers")).unwrap_or_default();
    let unknown_triggers: Vec<&str> = triggers.lines().filter(|line| !known_trigger(line)).collect();
    if scripts.is_empty() && unknown_triggers.is_empty() {
        return Ok(());
    }
    // A known package's own trigger interests are part of what is known.
    match known(&package.name) {
        Some(known) => {
            diag.verbose(format_args!("{}: not running its {} ({})", package.name, scripts.join(", "), known.why));
            Ok(())
        }
        _ => {
            let what = if scripts.is_empty() {
                format!("triggers ({})", unknown_triggers.join("; "))
            } else {
                scripts.join(", ")
            };
            Err(StagingError::Refused(format!(
                "{}: its {what} would do more than apt-install --root reproduces; nothing was installed \
                 (install it in an image with dpkg, or --leave-out it if the image does not need it)",
                package.name
            )))
        }
    }
}

/// dpkg's `path-exclude` and `path-include` lines, in order.
fn dpkg_excludes(dir: &Path) -> Vec<(bool, String)> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir).into_iter().flatten().flatten().map(|e| e.path()).collect();
    files.sort();
    let mut rules = Vec::new();
    for file in files {
        for line in std::fs::read_to_string(&file).unwrap_or_default().lines() {
            let mut words = line.split_whitespace();
            match (words.next(), words.next()) {
                (Some("path-exclude"), Some(glob)) | (Some("path-exclude="), Some(glob)) => {
                    rules.push((true, glob.to_string()))
                }
                (Some("path-include"), Some(glob)) => rules.push((false, glob.to_string())),
                _ => {
                    if let Some(glob) = line.trim().strip_prefix("path-exclude=") {
                        rules.push((true, glob.to_string()));
                    } else if let Some(glob) = line.trim().strip_prefix("path-include=") {
                        rules.push((false, glob.to_string()));
                    }
                }
            }
        }
    }
    rules
}

/// Removes the files dpkg would not unpack: the last rule that matches a
/// path decides, as in dpkg. Directories stay.
fn remove_excluded(tree: &Path, rules: &[(bool, String)]) {
    if rules.is_empty() {
        return;
    }
    let mut pending = vec![tree.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = entry.path();
            let Ok(kind) = entry.file_type() else { continue };
            if kind.is_dir() {
                pending.push(path);
                continue;
            }
            let inner = Path::new("/").join(path.strip_prefix(tree).unwrap_or(&path));
            let text = venvkit_common::root::bytes(&inner);
            let excluded = rules
                .iter()
                .rev()
                .find(|(_, glob)| venvkit_common::glob::glob_match(glob.as_bytes(), text))
                .is_some_and(|(exclude, _)| *exclude);
            if excluded {
                let _ = std::fs::remove_file(&path);
            }
        }
    }
}

/// Merged /usr's top-level links, where DIR has no such entry yet.
fn merge_usr_links(root: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(root)?;
    for name in ["bin", "sbin", "lib", "lib64"] {
        std::fs::create_dir_all(root.join("usr").join(name))?;
        let link = root.join(name);
        if std::fs::symlink_metadata(&link).is_err() {
            std::os::unix::fs::symlink(format!("usr/{name}"), &link)?;
        }
    }
    Ok(())
}

/// Moves `from` (an unpacked tree) into `to`, following `to`'s directory
/// links (merged /usr); a file already there is replaced.
fn move_tree(from: &Path, to: &Path, inner: &Path) -> std::io::Result<()> {
    let mut entries: Vec<_> = std::fs::read_dir(from)?.flatten().collect();
    entries.sort_by_key(|entry| entry.file_name());
    for entry in entries {
        let source = entry.path();
        let name = entry.file_name();
        let target = to.join(&name);
        let kind = entry.file_type()?;
        if kind.is_dir() {
            // An existing directory, or a link to one, takes the contents.
            if !target.is_dir() {
                std::fs::create_dir_all(&target)?;
                let mode = std::fs::metadata(&source)?.permissions();
                std::fs::set_permissions(&target, mode)?;
            }
            move_tree(&source, &target, &inner.join(&name))?;
        } else {
            if std::fs::symlink_metadata(&target).is_ok_and(|m| !m.is_dir()) {
                std::fs::remove_file(&target)?;
            }
            std::fs::rename(&source, &target)?;
        }
    }
    Ok(())
}

/// dpkg's `Conffiles` field (dpkg's status, deb-conffiles(5)): each
/// conffile the package ships, with the MD5 of the file as unpacked into
/// `root`, as dpkg records them after an install. Conffiles are not in
/// `md5sums`: without this field, readers of the metadata would find
/// `/etc/services` and the like owned by no package. Empty when it ships
/// none; files removed by a path-exclude are left out.
fn conffiles_field(package: &Unpacked, root: &Path) -> String {
    use md5::{Digest, Md5};
    let listed = std::fs::read_to_string(package.control.join("conffiles")).unwrap_or_default();
    let mut field = String::new();
    // A line is a path, possibly after flags such as `remove-on-upgrade`.
    for path in listed.lines().filter_map(|line| line.split_whitespace().last()) {
        let Ok(bytes) = std::fs::read(root.join(path.trim_start_matches('/'))) else { continue };
        let sum: String = Md5::digest(&bytes).iter().map(|byte| format!("{byte:02x}")).collect();
        field.push_str(&format!(" {path} {sum}\n"));
    }
    if field.is_empty() {
        field
    } else {
        format!("Conffiles:\n{field}")
    }
}

fn write_metadata(package: &Unpacked, root: &Path, status_d: &Path) -> Result<(), StagingError> {
    let write = |path: PathBuf, text: &[u8]| {
        std::fs::write(&path, text).map_err(|err| StagingError::Failed(format!("{}: {err}", path.display())))
    };
    let control = std::fs::read_to_string(package.control.join("control"))
        .map_err(|err| StagingError::Failed(format!("{}: no control file: {err}", package.name)))?;
    let mut record = String::new();
    for line in control.lines() {
        record.push_str(line);
        record.push('\n');
        if line.starts_with("Package:") {
            record.push_str("Status: install ok installed\n");
        }
    }
    record.push_str(&conffiles_field(package, root));
    write(status_d.join(&package.name), record.as_bytes())?;
    let sums = std::fs::read(package.control.join("md5sums")).unwrap_or_default();
    write(status_d.join(format!("{}.md5sums", package.name)), &sums)
}

/// What the skipped scripts would have left that an image needs: the
/// loader cache (for a root of its own, not one going over an image), the
/// CA bundle, the time zone.
fn finish(root: &Path, added: &[Unpacked], write_cache: bool, diag: Diag) -> Result<(), StagingError> {
    let names: BTreeSet<&str> = added.iter().map(|p| p.name.as_str()).collect();
    if names.contains("ca-certificates") {
        write_ca_bundle(root).map_err(|err| StagingError::Failed(format!("the CA bundle: {err}")))?;
    }
    if names.contains("tzdata") {
        let localtime = root.join("etc/localtime");
        let _ = std::fs::remove_file(&localtime);
        std::os::unix::fs::symlink("/usr/share/zoneinfo/Etc/UTC", &localtime)
            .and_then(|()| std::fs::write(root.join("etc/timezone"), "Etc/UTC\n"))
            .map_err(|err| StagingError::Failed(format!("the time zone: {err}")))?;
    }
    // Over another image the cache must cover both, which only ldconfig in
    // that image can see: a cache of DIR alone would hide the image's
    // libraries once copied over it.
    if !write_cache {
        diag.info("run ldconfig in the image after copying this root over it (RUN [\"ldconfig\"]): its loader cache must list the new libraries");
        return Ok(());
    }
    // The loader cache, for the libraries of the whole root (ldconfig reads
    // the root's own ld.so.conf with -r).
    let ldconfig = Command::new("ldconfig").arg("-r").arg(root).output();
    match ldconfig {
        Ok(output) if output.status.success() => {
            diag.verbose(format_args!("ldconfig -r {}: the loader cache is rebuilt", root.display()));
            Ok(())
        }
        Ok(output) => Err(StagingError::Failed(format!(
            "ldconfig -r {}: {}",
            root.display(),
            String::from_utf8_lossy(&output.stderr).trim()
        ))),
        Err(err) => Err(StagingError::Failed(format!("cannot run ldconfig: {}", venvkit_common::io::plain(&err)))),
    }
}

/// `/etc/ssl/certs/ca-certificates.crt` as update-ca-certificates makes it:
/// every certificate under /usr/share/ca-certificates, in name order, each
/// ending with a newline.
fn write_ca_bundle(root: &Path) -> std::io::Result<()> {
    let shared = root.join("usr/share/ca-certificates");
    let mut certificates = Vec::new();
    let mut pending = vec![shared.clone()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir)?.flatten() {
            let path = entry.path();
            if entry.file_type()?.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|e| e == "crt") {
                certificates.push(path);
            }
        }
    }
    certificates.sort();
    let mut bundle = Vec::new();
    for certificate in &certificates {
        let mut text = std::fs::read(certificate)?;
        if !text.ends_with(b"\n") {
            text.push(b'\n');
        }
        bundle.extend(text);
    }
    std::fs::create_dir_all(root.join("etc/ssl/certs"))?;
    std::fs::write(root.join("etc/ssl/certs/ca-certificates.crt"), bundle)?;
    // OpenSSL looks in OPENSSLDIR (/usr/lib/ssl on Debian): the openssl
    // package links its cert.pem and certs there, which a root without
    // that package still needs (Python's ssl finds its CAs there).
    let ssl = root.join("usr/lib/ssl");
    std::fs::create_dir_all(&ssl)?;
    for (name, target) in [("cert.pem", "/etc/ssl/certs/ca-certificates.crt"), ("certs", "/etc/ssl/certs")] {
        if std::fs::symlink_metadata(ssl.join(name)).is_err() {
            std::os::unix::fs::symlink(target, ssl.join(name))?;
        }
    }
    Ok(())
}

/// A fresh directory under `parent`, on DIR's filesystem so that files move
/// by rename.
fn tempfile_dir(parent: &Path) -> std::io::Result<PathBuf> {
    std::fs::create_dir_all(parent)?;
    for attempt in 0..100 {
        let dir = parent.join(format!(".apt-install-{}-{attempt}", std::process::id()));
        match std::fs::create_dir(&dir) {
            Ok(()) => return Ok(dir),
            Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(err) => return Err(err),
        }
    }
    Err(std::io::Error::other("no free name for a work directory"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scripts_known_by_name_and_prefix_and_ldconfig_triggers() {
        assert!(known("python3.11-minimal").is_some() && known("libpython3.11-stdlib").is_some());
        assert!(known("tzdata").is_some() && known("postgresql").is_none() && known("libc6-dev").is_none());
        assert!(known("libreadline8t64").is_some() && known("t64-tool").is_none());
        assert!(known_trigger("activate-noawait ldconfig") && known_trigger("# comment") && known_trigger(""));
        assert!(!known_trigger("interest-noawait /usr/share/fonts"));
    }

    #[test]
    fn dpkg_path_rules_last_match_wins() {
        let dir = venvkit_suites::fixtures::Scratch::new("excludes");
        dir.write(
            "cfg/excludes",
            b"path-exclude /usr/share/doc/*\npath-include /usr/share/doc/*/copyright\npath-exclude=/usr/share/man/*\n",
        );
        let rules = dpkg_excludes(&dir.path("cfg"));
        let tree = dir.path("tree");
        for file in ["usr/share/doc/a/README", "usr/share/doc/a/copyright", "usr/share/man/man1/a.1", "usr/bin/a"] {
            dir.write(&format!("tree/{file}"), b"x");
        }
        remove_excluded(&tree, &rules);
        let left = |file: &str| tree.join(file).exists();
        assert!(!left("usr/share/doc/a/README") && left("usr/share/doc/a/copyright"));
        assert!(!left("usr/share/man/man1/a.1") && left("usr/bin/a"));
    }

    #[test]
    fn conffiles_are_recorded_with_the_md5_of_the_unpacked_file() {
        let dir = venvkit_suites::fixtures::Scratch::new("conffiles");
        dir.write("control/conffiles", b"/etc/a\nremove-on-upgrade /etc/b\n/etc/excluded\n");
        dir.write("root/etc/a", b"x\n");
        dir.write("root/etc/b", b"");
        let package = Unpacked { name: "a".into(), deb: PathBuf::new(), control: dir.path("control") };
        assert_eq!(
            conffiles_field(&package, &dir.path("root")),
            "Conffiles:\n /etc/a 401b30e3b8b5d629635a5c613cdb7919\n /etc/b d41d8cd98f00b204e9800998ecf8427e\n"
        );
        std::fs::remove_file(dir.path("control/conffiles")).unwrap();
        assert_eq!(conffiles_field(&package, &dir.path("root")), "");
    }
}
