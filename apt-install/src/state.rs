//! dpkg's view before and after a run: which packages this run added, how
//! many bytes they take, and which of them are not fully installed (to be
//! purged, so that a failure leaves nothing half-installed).

use std::collections::BTreeMap;

const STATUS: &str = "/var/lib/dpkg/status";

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// The state word of Status: installed, unpacked, half-configured, ...
    pub state: String,
    /// Installed-Size, in KiB.
    pub size_kib: u64,
}

/// `name:arch` -> entry, for every package dpkg knows.
#[derive(Clone, Debug, Default)]
pub struct Snapshot(pub BTreeMap<String, Entry>);

impl Snapshot {
    pub fn read() -> Snapshot {
        Snapshot::parse(&std::fs::read_to_string(STATUS).unwrap_or_default())
    }

    pub fn parse(text: &str) -> Snapshot {
        let mut packages = BTreeMap::new();
        for paragraph in text.split("\n\n") {
            let field = |name: &str| {
                paragraph
                    .lines()
                    .find_map(|line| line.strip_prefix(name).and_then(|rest| rest.strip_prefix(':')))
                    .map(str::trim)
            };
            let (Some(name), Some(status)) = (field("Package"), field("Status")) else { continue };
            let arch = field("Architecture").unwrap_or_default();
            let state = status.split_whitespace().nth(2).unwrap_or_default().to_string();
            let size_kib = field("Installed-Size").and_then(|size| size.parse().ok()).unwrap_or(0);
            packages.insert(format!("{name}:{arch}"), Entry { state, size_kib });
        }
        Snapshot(packages)
    }

    fn installed(&self, package: &str) -> bool {
        self.0.get(package).is_some_and(|entry| entry.state == "installed")
    }

    /// Packages installed now that were not before.
    pub fn added_since(&self, before: &Snapshot) -> Vec<String> {
        self.0.keys().filter(|p| self.installed(p) && !before.installed(p)).cloned().collect()
    }

    /// Packages this run brought in that dpkg did not finish installing.
    pub fn unfinished_since(&self, before: &Snapshot) -> Vec<String> {
        self.0
            .iter()
            .filter(|(_, entry)| {
                entry.state != "installed" && entry.state != "not-installed" && entry.state != "config-files"
            })
            .filter(|(package, _)| !before.0.contains_key(*package) || before.0[*package].state == "not-installed")
            .map(|(package, _)| package.clone())
            .collect()
    }

    /// Bytes the installed packages take, by their Installed-Size.
    pub fn bytes(&self) -> u64 {
        self.0.values().filter(|e| e.state == "installed").map(|e| e.size_kib * 1024).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BEFORE: &str = "Package: base\nStatus: install ok installed\nArchitecture: amd64\nInstalled-Size: 10\n\n";

    #[test]
    fn added_and_unfinished_packages_are_told_apart() {
        let after = format!(
            "{BEFORE}Package: tree\nStatus: install ok installed\nArchitecture: amd64\nInstalled-Size: 100\n\n\
             Package: broken\nStatus: install ok half-configured\nArchitecture: all\nInstalled-Size: 5\n"
        );
        let (before, after) = (Snapshot::parse(BEFORE), Snapshot::parse(&after));
        assert_eq!(after.added_since(&before), ["tree:amd64"]);
        assert_eq!(after.unfinished_since(&before), ["broken:all"]);
        assert_eq!(after.bytes() - before.bytes(), 100 * 1024);
    }
}
