//! dpkg's view before and after a run: which packages this run added, how
//! many bytes they take, and which of them dpkg did not finish (to be
//! purged, so that a failure leaves nothing half-installed). Read through
//! `venvkit-dpkg`, so an interrupted dpkg's journal counts.

use std::collections::BTreeMap;

use venvkit_common::root::Root;
use venvkit_dpkg::{Database, Package, PackageId, State};

/// Every package dpkg knows, by identity.
#[derive(Clone, Debug, Default)]
pub struct Snapshot {
    packages: BTreeMap<PackageId, Package>,
    native: String,
}

impl Snapshot {
    /// The database of the system at `root` (`/` in use). A missing or
    /// unreadable database is an error naming it.
    pub fn read(root: &Root) -> Result<Snapshot, String> {
        let database = Database::open(root).map_err(|err| err.0)?;
        let native = database.native_arch.clone().unwrap_or_default();
        let packages = database.packages.into_iter().map(|p| (p.id.clone(), p)).collect();
        Ok(Snapshot { packages, native })
    }

    fn installed(&self, package: &PackageId) -> bool {
        self.packages.get(package).is_some_and(|p| p.state == State::Installed)
    }

    /// Packages installed now that were not before.
    pub fn added_since<'a>(&'a self, before: &Snapshot) -> Vec<&'a PackageId> {
        self.packages.keys().filter(|p| self.installed(p) && !before.installed(p)).collect()
    }

    /// Packages this run brought in that dpkg did not finish installing.
    pub fn unfinished_since<'a>(&'a self, before: &Snapshot) -> Vec<&'a PackageId> {
        self.packages
            .values()
            .filter(|p| p.state.is_unfinished())
            .filter(|p| before.packages.get(&p.id).is_none_or(|old| old.state == State::NotInstalled))
            .map(|p| &p.id)
            .collect()
    }

    /// Packages installed before this run that dpkg did not finish
    /// upgrading, each with the version installed before.
    pub fn unfinished_upgrades_since<'a>(&'a self, before: &'a Snapshot) -> Vec<(&'a PackageId, &'a str)> {
        self.packages
            .values()
            .filter(|p| p.state.is_unfinished())
            .filter_map(|p| before.packages.get(&p.id).filter(|old| old.state == State::Installed))
            .map(|old| (&old.id, old.version.as_str()))
            .collect()
    }

    /// The version of `package` dpkg has now, if any.
    pub fn version(&self, package: &PackageId) -> Option<&str> {
        self.packages.get(package).map(|p| p.version.as_str())
    }

    /// Bytes the installed packages take, by their Installed-Size.
    pub fn bytes(&self) -> u64 {
        self.packages.values().filter(|p| p.state == State::Installed).map(|p| p.installed_size_kib * 1024).sum()
    }

    /// `name`, or `name:arch` for a package foreign to this system.
    pub fn name(&self, package: &PackageId) -> String {
        package.qualified(&self.native)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use venvkit_suites::fixtures::Scratch;

    fn root_with(status: &str) -> (Root, Scratch) {
        let dir = Scratch::new("apt-install-state");
        dir.write("var/lib/dpkg/status", status);
        dir.write("var/lib/dpkg/arch", "amd64\n");
        (Root::new(&dir), dir)
    }

    const BEFORE: &str = "Package: base\nStatus: install ok installed\nArchitecture: amd64\nInstalled-Size: 10\n\n";

    #[test]
    fn added_and_unfinished_packages_are_told_apart() {
        let after = format!(
            "{BEFORE}Package: tree\nStatus: install ok installed\nArchitecture: amd64\nInstalled-Size: 100\n\n\
             Package: broken\nStatus: install ok half-configured\nArchitecture: all\nInstalled-Size: 5\n"
        );
        let (before_root, _before_dir) = root_with(BEFORE);
        let (after_root, _after_dir) = root_with(&after);
        let before = Snapshot::read(&before_root).unwrap();
        let after = Snapshot::read(&after_root).unwrap();
        let names = |ids: Vec<&PackageId>| ids.into_iter().map(|id| after.name(id)).collect::<Vec<_>>();
        assert_eq!(names(after.added_since(&before)), ["tree"]);
        assert_eq!(names(after.unfinished_since(&before)), ["broken"]);
        assert_eq!(after.bytes() - before.bytes(), 100 * 1024);
    }

    #[test]
    fn a_package_dpkg_left_unpacked_in_its_journal_is_unfinished() {
        let (root, dir) = root_with(BEFORE);
        let before = Snapshot::read(&root).unwrap();
        std::fs::create_dir_all(dir.join("var/lib/dpkg/updates")).unwrap();
        std::fs::write(
            dir.join("var/lib/dpkg/updates/0000"),
            "Package: new\nStatus: install reinstreq half-installed\nArchitecture: amd64\n",
        )
        .unwrap();
        let after = Snapshot::read(&root).unwrap();
        assert_eq!(after.unfinished_since(&before).len(), 1);
    }
}
