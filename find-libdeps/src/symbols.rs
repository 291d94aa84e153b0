//! `--format depends`: minimum versions as dpkg-shlibdeps computes them.
//! For each system library an object needs, the package's `symbols` file
//! gives the version that introduced each symbol the object uses; the
//! highest of those is the minimum. A library without a symbols file falls
//! back to the package's `shlibs` entry.

use std::collections::BTreeMap;

use venvkit_dpkg::{version, Database, Package};
use venvkit_elf::Elf;

/// The symbols an object takes from other objects, as symbols files key
/// them: `name@VERSION`, or `name@Base` when unversioned.
fn undefined_symbols(elf: &Elf<'_, std::fs::File>) -> Vec<String> {
    // An unreadable symbol table (which the loader does not need) counts as
    // no symbols used: each library at its smallest version.
    let symbols = elf.undefined_symbols().unwrap_or_default();
    symbols.into_iter().map(|s| format!("{}@{}", s.name, s.version.as_deref().unwrap_or("Base"))).collect()
}

/// One library section of a symbols file (deb-symbols(5)).
#[derive(Debug, Default)]
struct Section {
    /// Dependency templates: the main one (`libc6 #MINVER#`), then the
    /// alternative ones of `|` lines, which symbols select by number.
    templates: Vec<String>,
    /// `name@version` -> (the version that introduced it, template number).
    symbols: BTreeMap<String, (String, usize)>,
}

/// A package's symbols file, by soname.
#[derive(Debug, Default)]
pub struct SymbolsFile {
    sections: BTreeMap<String, Section>,
}

impl SymbolsFile {
    pub fn parse(text: &str) -> SymbolsFile {
        let mut file = SymbolsFile::default();
        let mut current: Option<String> = None;
        for line in text.lines() {
            if let Some(alternative) = line.strip_prefix('|') {
                if let Some(soname) = &current {
                    file.sections.entry(soname.clone()).or_default().templates.push(alternative.trim().to_string());
                }
                continue;
            }
            if line.starts_with(['#', '*']) || line.trim().is_empty() {
                continue;
            }
            if line.starts_with([' ', '\t']) {
                let Some(soname) = &current else { continue };
                // A tagged entry reads "(c++|optional)name@Base 1.0".
                let entry = line.trim_start();
                let entry = match entry.strip_prefix('(') {
                    Some(tagged) => tagged.split_once(')').map_or("", |(_, rest)| rest),
                    None => entry,
                };
                let words: Vec<&str> = entry.split_whitespace().collect();
                if let [name, minver, ..] = words[..] {
                    let template = words.get(2).and_then(|id| id.parse().ok()).unwrap_or(0);
                    let symbols = &mut file.sections.entry(soname.clone()).or_default().symbols;
                    symbols.insert(name.to_string(), (minver.to_string(), template));
                }
                continue;
            }
            let mut words = line.splitn(2, char::is_whitespace);
            let soname = words.next().unwrap_or_default().to_string();
            let template = words.next().unwrap_or_default().trim().to_string();
            file.sections.entry(soname.clone()).or_default().templates = vec![template];
            current = Some(soname);
        }
        file
    }

    pub fn has(&self, soname: &str) -> bool {
        self.sections.contains_key(soname)
    }

    /// The version and template number of `symbol` in `soname`'s section.
    fn lookup(&self, soname: &str, symbol: &str) -> Option<(&str, usize)> {
        self.sections.get(soname)?.symbols.get(symbol).map(|(version, template)| (version.as_str(), *template))
    }

    /// The lowest version of any symbol: what a library is depended on at
    /// when none of its symbols is used.
    fn smallest(&self, soname: &str) -> Option<&str> {
        let main_template = self.sections.get(soname)?.symbols.values().filter(|(_, template)| *template == 0);
        main_template.map(|(v, _)| v.as_str()).min_by(|a, b| version::compare(a, b))
    }

    fn template(&self, soname: &str, number: usize) -> Option<&str> {
        self.sections.get(soname)?.templates.get(number).map(String::as_str)
    }
}

/// The Depends of a whole tree, merged by package.
#[derive(Debug, Default)]
pub struct Depends {
    /// Package -> minimum version ("" for none).
    entries: BTreeMap<String, String>,
    /// Dependencies as written, in the order first met.
    others: Vec<String>,
    /// (soname, package) of libraries whose package has neither a symbols
    /// nor a shlibs file for them: no minimum version can be known.
    pub without_information: Vec<(String, String)>,
}

/// A library one object needs from the system, with its owner.
pub struct Need<'a> {
    pub soname: &'a str,
    pub package: &'a Package,
}

impl Depends {
    /// Adds what `elf` needs of `needs`, in DT_NEEDED order.
    pub fn add_object(&mut self, database: &Database, elf: &Elf<'_, std::fs::File>, needs: &[Need]) {
        self.add_needs(database, &undefined_symbols(elf), needs);
    }

    /// Adds libraries loaded at run time (dlopen): no symbol is bound at
    /// link time, so each is needed at its smallest version.
    pub fn add_loaded(&mut self, database: &Database, needs: &[Need]) {
        self.add_needs(database, &[], needs);
    }

    fn add_needs(&mut self, database: &Database, symbols: &[String], needs: &[Need]) {
        let mut files: Vec<(usize, SymbolsFile)> = Vec::new();
        for (index, need) in needs.iter().enumerate() {
            let control = |kind| {
                database.control_file(&need.package.id, kind).map(|text| String::from_utf8_lossy(&text).into_owned())
            };
            if let Some(file) = control("symbols").map(|text| SymbolsFile::parse(&text)) {
                if file.has(need.soname) {
                    files.push((index, file));
                    continue;
                }
            }
            match shlibs_entry(&control("shlibs").unwrap_or_default(), need.soname) {
                Some(entry) => self.merge_template(entry, ""),
                // dpkg-shlibdeps stops here ("no dependency information
                // found"); the bare package is still listed.
                None => {
                    self.merge(&need.package.id.name, "");
                    let unknown = (need.soname.to_string(), need.package.id.name.clone());
                    if !self.without_information.contains(&unknown) {
                        self.without_information.push(unknown);
                    }
                }
            }
        }
        // (library, template number) -> the highest version its used symbols need.
        let mut minimum: BTreeMap<(usize, usize), String> = BTreeMap::new();
        for symbol in symbols {
            // The first needed library whose symbols file knows the symbol
            // provides it, as dpkg-shlibdeps decides.
            let provider = files.iter().find_map(|(i, f)| f.lookup(needs[*i].soname, symbol).map(|found| (*i, found)));
            if let Some((index, (found, template))) = provider {
                let entry = minimum.entry((index, template)).or_default();
                if version::compare(found, entry).is_gt() {
                    *entry = found.to_string();
                }
            }
        }
        for (index, file) in &files {
            let soname = needs[*index].soname;
            let used: Vec<(usize, &String)> =
                minimum.iter().filter(|((library, _), _)| library == index).map(|((_, t), v)| (*t, v)).collect();
            if used.is_empty() {
                let smallest = file.smallest(soname).unwrap_or_default().to_string();
                self.merge_template(file.template(soname, 0).unwrap_or(&needs[*index].package.id.name), &smallest);
            }
            for (number, version) in used {
                let template = file
                    .template(soname, number)
                    .or(file.template(soname, 0))
                    .unwrap_or(&needs[*index].package.id.name);
                self.merge_template(template, version);
            }
        }
    }

    fn merge(&mut self, package: &str, version: &str) {
        let entry = self.entries.entry(package.to_string()).or_default();
        if version::compare(version, entry).is_gt() {
            *entry = version.to_string();
        }
    }

    /// A dependency template with #MINVER# standing for `version`, read as
    /// a Depends field: `,` separates dependencies. `pkg (>= v)` and bare
    /// `pkg` merge by package; anything else (`<<`, `|`) is kept as written.
    fn merge_template(&mut self, template: &str, version: &str) {
        for part in template.split(',').map(str::trim).filter(|part| !part.is_empty()) {
            match part.strip_suffix("#MINVER#") {
                Some(package) if !package.contains('|') => self.merge(package.trim(), version),
                Some(_) => {
                    let minimum = if version.is_empty() { String::new() } else { format!("(>= {version})") };
                    self.merge_literal(&part.replace("#MINVER#", &minimum));
                }
                None => self.merge_literal(part),
            }
        }
    }

    /// One dependency as written (`libc6 (<< 2.37)`, a shlibs entry's
    /// `libfoo1 (>= 1.2)`): kept as it is, as dpkg-shlibdeps keeps it, but
    /// for a bare package name, which merges with the computed versions.
    fn merge_literal(&mut self, entry: &str) {
        let entry = entry.trim();
        if !entry.contains(['(', '|']) {
            self.merge(entry, "");
        } else if !self.others.iter().any(|other| other == entry) {
            self.others.push(entry.to_string());
        }
    }

    /// Adds a package needed without symbols (the program interpreter).
    pub fn add_package(&mut self, package: &str) {
        self.merge(package, "");
    }

    /// Sorted as Dpkg::Deps sorts: by package, then relation (none, >=, >>,
    /// =, <<, <=), then version as a plain string.
    pub fn render(&self) -> String {
        let computed = self.entries.iter().map(|(package, version)| {
            if version.is_empty() || version == "0" {
                package.clone()
            } else {
                format!("{package} (>= {version})")
            }
        });
        let mut parts: Vec<String> = computed.chain(self.others.iter().cloned()).collect();
        parts.sort_by_cached_key(|text| sort_key(text));
        parts.dedup();
        parts.join(", ")
    }
}

fn sort_key(dependency: &str) -> (String, u8, String) {
    let first = dependency.split('|').next().unwrap_or_default().trim();
    let (package, relation) = match first.split_once('(') {
        Some((package, relation)) => (package.trim(), relation.trim_end_matches(')').trim()),
        None => (first, ""),
    };
    let (rank, version) = [(">=", 1), (">>", 2), ("=", 3), ("<<", 4), ("<=", 5)]
        .iter()
        .find_map(|(operator, rank)| relation.strip_prefix(operator).map(|version| (*rank, version.trim())))
        .unwrap_or((0, ""));
    (package.to_string(), rank, version.to_string())
}

/// The dependency a shlibs file gives for `soname` (`libfoo.so.1` is
/// listed as `libfoo 1 ...`, `libfoo-1.so` as `libfoo 1 ...`).
fn shlibs_entry<'a>(shlibs: &'a str, soname: &str) -> Option<&'a str> {
    let (name, version) = match soname.split_once(".so.") {
        Some((name, version)) => (name.to_string(), version.to_string()),
        None => {
            // dpkg's /^(.*)-(\d.*)\.so$/: the last '-' that a digit follows.
            let stem = soname.strip_suffix(".so")?;
            let dash = stem
                .char_indices()
                .rev()
                .find(|&(i, c)| c == '-' && stem[i + 1..].starts_with(|d: char| d.is_ascii_digit()))?
                .0;
            (stem[..dash].to_string(), stem[dash + 1..].to_string())
        }
    };
    shlibs.lines().find_map(|line| {
        let mut words = line.splitn(3, char::is_whitespace);
        let first = words.next()?;
        // An optional "udeb:" type prefix marks entries for the installer.
        if first.ends_with(':') {
            return None;
        }
        (first == name && words.next()? == version).then(|| words.next()).flatten().map(str::trim)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SYMBOLS: &str = "\
libz.so.1 zlib1g #MINVER#
| zlib1g (>= 1:1.2.0)
* Build-Depends-Package: zlib1g-dev
 adler32@Base 1:1.1.4
 deflateBound@ZLIB_1.2.0 1:1.2.0
 (c++|optional)weird@Base 1:1.2.9
";

    #[test]
    fn symbols_files_are_read_per_soname_with_tags() {
        let file = SymbolsFile::parse(SYMBOLS);
        assert_eq!(file.lookup("libz.so.1", "adler32@Base"), Some(("1:1.1.4", 0)));
        assert_eq!(file.lookup("libz.so.1", "deflateBound@ZLIB_1.2.0"), Some(("1:1.2.0", 0)));
        assert_eq!(file.lookup("libz.so.1", "weird@Base"), Some(("1:1.2.9", 0)));
        assert_eq!(file.smallest("libz.so.1"), Some("1:1.1.4"));
        assert_eq!(file.template("libz.so.1", 0), Some("zlib1g #MINVER#"));
        assert_eq!(file.template("libz.so.1", 1), Some("zlib1g (>= 1:1.2.0)"));
    }

    #[test]
    fn shlibs_entries_are_found_by_name_and_version() {
        let shlibs = "libpq 5 libpq5 (>= 10~~)\nudeb: libpq 5 libpq5-udeb\n";
        assert_eq!(shlibs_entry(shlibs, "libpq.so.5"), Some("libpq5 (>= 10~~)"));
        assert_eq!(shlibs_entry("libfoo 1.2 libfoo1.2\n", "libfoo-1.2.so"), Some("libfoo1.2"));
        let binutils = "libopcodes 2.40-system libbinutils (>= 2.40), libbinutils (<< 2.40.1)\n";
        assert_eq!(
            shlibs_entry(binutils, "libopcodes-2.40-system.so"),
            Some("libbinutils (>= 2.40), libbinutils (<< 2.40.1)")
        );
        assert_eq!(shlibs_entry(shlibs, "libpq.so.6"), None);
    }

    #[test]
    fn symbols_select_their_template_by_number() {
        let text = "libc.so.6 libc6 #MINVER#\n| libc6 (>> 2.36), libc6 (<< 2.37)\n memcpy@GLIBC_2.14 2.14\n __priv@GLIBC_PRIVATE 0 1\n";
        let file = SymbolsFile::parse(text);
        assert_eq!(file.lookup("libc.so.6", "__priv@GLIBC_PRIVATE"), Some(("0", 1)));
        let mut depends = Depends::default();
        depends.merge_template(file.template("libc.so.6", 0).unwrap(), "2.14");
        assert_eq!(depends.render(), "libc6 (>= 2.14)");
        depends.merge_template(file.template("libc.so.6", 1).unwrap(), "0");
        assert_eq!(depends.render(), "libc6 (>= 2.14), libc6 (>> 2.36), libc6 (<< 2.37)");
    }

    #[test]
    fn depends_merge_to_the_highest_version_per_package() {
        let mut depends = Depends::default();
        depends.merge("libc6", "2.14");
        depends.merge("libc6", "2.34");
        depends.merge("libc6", "2.2.5");
        depends.merge_template("libpq5 (>= 10~~)", "");
        depends.add_package("zlib1g");
        depends.merge_template("libbinutils (>= 2.40), libbinutils (<< 2.40.1)", "");
        depends.merge("libbinutils", "2.39.50");
        assert_eq!(
            depends.render(),
            "libbinutils (>= 2.39.50), libbinutils (>= 2.40), libbinutils (<< 2.40.1), libc6 (>= 2.34), libpq5 (>= 10~~), zlib1g"
        );
    }
}
