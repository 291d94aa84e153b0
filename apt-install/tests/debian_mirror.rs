//! Against Debian's archive, as a Dockerfile's RUN would use it: the happy
//! path, exact cleaning (a package that keeps log directories), and a layer
//! that is the same byte for byte when built twice.

mod support;

use std::collections::BTreeMap;
use std::path::Path;
use support::*;

#[test]
fn tree_installs_with_one_update_and_one_install_non_interactively_needs_root() {
    require_root();
    let layer = Layer::new("tree");
    let (code, _, stderr) = layer.run("apt-install -v tree").into_parts();
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(stderr.matches("running apt-get update").count(), 1, "{stderr}");
    assert_eq!(stderr.matches("running apt-get install --no-install-recommends").count(), 1, "{stderr}");
    let summary = stderr.lines().last().unwrap();
    assert!(
        summary.starts_with("apt-install: installed 1 package (tree), ") && summary.ends_with(" added, 1 attempt"),
        "{summary}"
    );
    let (_, status, _) = layer.run("dpkg-query -W -f '${db:Status-Abbrev}' tree").into_parts();
    assert_eq!(status, "ii ");
    let (_, config, _) = layer
        .run("grep -rs DEBIAN_FRONTEND /etc/environment /etc/apt /etc/profile /etc/profile.d || true")
        .into_parts();
    assert_eq!(config, "", "DEBIAN_FRONTEND was written to the image's configuration");
}

#[test]
fn cleaning_is_exact_and_packages_keep_their_log_directories_needs_root() {
    require_root();
    let layer = Layer::new("nginx");
    let (code, _, stderr) = layer.run("apt-install nginx-light").into_parts();
    assert_eq!(code, 0, "{stderr}");
    let (_, left, _) = layer.run(
        "find /var/lib/apt/lists /var/cache/apt -type f \\( -name '*Packages*' -o -name '*Release*' -o -name '*Translation*' -o -name '*.bin' -o -name '*.deb' \\); \
         ls /var/log/dpkg.log /var/log/alternatives.log /var/log/apt/history.log /var/log/apt/term.log /var/log/apt/eipp.log.xz 2>/dev/null; true",
    ).into_parts();
    assert_eq!(left, "", "left behind");
    let (code, _, stderr) = layer.run("nginx -t").into_parts();
    assert_eq!(code, 0, "nginx -t: {stderr}");
    let (_, kept, _) =
        layer.run("test -s /var/lib/apt/extended_states && test -d /var/lib/dpkg/info && echo kept").into_parts();
    assert_eq!(kept, "kept\n");
}

/// Every file of a layer with its type and contents (no timestamps).
fn contents(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut found = BTreeMap::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(current) = pending.pop() {
        for entry in std::fs::read_dir(&current).unwrap().flatten() {
            let path = entry.path();
            let relative = path.strip_prefix(dir).unwrap().display().to_string();
            let kind = entry.file_type().unwrap();
            if kind.is_dir() {
                found.insert(relative, b"dir".to_vec());
                pending.push(path);
            } else if kind.is_symlink() {
                found.insert(relative, std::fs::read_link(&path).unwrap().display().to_string().into_bytes());
            } else {
                found.insert(relative, std::fs::read(&path).unwrap_or_default());
            }
        }
    }
    found
}

#[test]
fn installing_the_same_package_twice_gives_identical_layers_needs_root() {
    require_root();
    let layers: Vec<Layer> = (0..2).map(|_| Layer::new("twice")).collect();
    for layer in &layers {
        let (code, _, stderr) = layer.run("apt-install tree").into_parts();
        assert_eq!(code, 0, "{stderr}");
    }
    let (first, second) = (contents(&layers[0].upper("/")), contents(&layers[1].upper("/")));
    let differing: Vec<&String> =
        first.keys().chain(second.keys()).filter(|k| first.get(*k) != second.get(*k)).collect();
    assert!(differing.is_empty(), "the layers differ in {differing:?}");
}
