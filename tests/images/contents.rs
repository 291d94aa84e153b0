//! What every image holds and leaves out.

use crate::support::*;
use goblin::elf::{dynamic::DT_NEEDED, Elf};

#[test]
fn every_image_has_the_four_static_tools_linked_from_sbin_and_each_runs() {
    let engine = engine_with_images();
    for image in all_images() {
        let copied = Scratch::new("tools");
        let container = engine.run(&["create", &image]);
        assert_eq!(container.code(), 0, "{}", container.stderr);
        let id = container.stdout.trim();
        let copy = engine.run(&["cp", &format!("{id}:/usr/local/bin/."), copied.0.to_str().unwrap()]);
        engine.run(&["rm", id]);
        assert_eq!(copy.code(), 0, "{}", copy.stderr);
        for tool in tools() {
            let bytes =
                std::fs::read(copied.path(tool)).unwrap_or_else(|e| panic!("{image}: /usr/local/bin/{tool}: {e}"));
            let elf = Elf::parse(&bytes).unwrap();
            assert_eq!(elf.interpreter, None, "{image}: {tool} is not static");
            assert!(
                !elf.dynamic.iter().flat_map(|d| &d.dyns).any(|d| d.d_tag == DT_NEEDED),
                "{image}: {tool} needs libraries"
            );
        }
        let script = "for tool in apt-install entrypoint find-libdeps wait-for-port; do \
                        [ \"$(readlink /usr/local/sbin/$tool)\" = ../bin/$tool ] || { echo no sbin link for $tool; exit 1; }; \
                        $tool --version || exit 1; \
                      done";
        let ran = engine.sh(&image, script);
        assert_eq!(ran.code(), 0, "{image}: {}{}", ran.stdout, ran.stderr);
        assert_eq!(ran.stdout.lines().count(), 4, "{image}: {}", ran.stdout);
    }
}

#[test]
fn images_stand_on_the_debian_slim_images_of_their_suite() {
    let engine = engine_with_images();
    for (suite, _) in suites() {
        assert!(engine.has_image(&format!("docker.io/library/debian:{suite}-slim")));
        let ran = engine.sh(&base(suite), ". /etc/os-release && echo $VERSION_CODENAME && cat /etc/apt/sources.list /etc/apt/sources.list.d/* 2>/dev/null");
        let mut lines = ran.stdout.lines();
        assert_eq!(lines.next(), Some(suite));
        let sources = lines.collect::<Vec<_>>().join("\n");
        for wanted in [format!(" {suite} "), format!(" {suite}-updates "), format!(" {suite}-security ")] {
            assert!(sources.contains(&wanted), "{suite}: no{wanted}source in\n{sources}");
        }
    }
}

#[test]
fn lang_is_c_utf8_without_locales_and_debian_frontend_is_not_in_any_image() {
    let engine = engine_with_images();
    for image in all_images() {
        let env = engine.inspect(&image, "{{json .Config.Env}}");
        assert!(env.contains("\"LANG=C.UTF-8\""), "{image}: {env}");
        assert!(!env.contains("DEBIAN_FRONTEND"), "{image}: {env}");
        let ran = engine.sh(
            &image,
            "dpkg-query -W -f '${db:Status-Status}' locales 2>/dev/null; echo; locale -a 2>/dev/null || true",
        );
        assert!(!ran.stdout.starts_with("installed"), "{image}: locales is installed");
    }
    for (suite, _) in suites() {
        let script = "import locale, sys\n\
                      assert sys.getfilesystemencoding() == 'utf-8', sys.getfilesystemencoding()\n\
                      locale.setlocale(locale.LC_ALL, '')\n\
                      print(locale.getlocale()[1], '\u{e9}t\u{e9}')";
        let ran = engine.run(&["run", "--rm", "--network=none", &python(suite), "python3", "-c", script]);
        assert_eq!(ran.code(), 0, "{suite}: {}", ran.stderr);
        assert_eq!(ran.stdout.trim(), "UTF-8 \u{e9}t\u{e9}");
    }
}

#[test]
fn the_runtime_keeps_bytecode_for_the_modules_servers_import_and_python_can_use_it() {
    // Written by the imports themselves, all of it was stale: the layer's
    // commit (--timestamp) rewrites the sources' mtimes it records.
    let engine = engine_with_images();
    for (suite, _) in suites() {
        assert_bytecode_valid_as_shipped(&engine, &python(suite), "/usr/lib/python3*", 40);
        // The shell-less one keeps none, and so no stale file either.
        assert_bytecode_valid_as_shipped(&engine, &distroless(suite), "/usr/lib/python3*", 0);
    }
}

#[test]
fn no_apt_residue_and_a_consistent_dpkg_database_in_every_image() {
    let engine = engine_with_images();
    let script = "find /var/lib/apt/lists /var/cache/apt -type f ! -name lock; \
                  find / -xdev -name '*.deb' -path '/var/*'; \
                  dpkg --audit; \
                  apt-get check -qq >/dev/null || echo apt-get check failed";
    for image in all_images() {
        let ran = engine.sh(&image, script);
        assert_eq!(ran.code(), 0, "{image}: {}", ran.stderr);
        assert_eq!(ran.stdout, "", "{image} is not clean");
    }
}

#[test]
fn docs_and_translations_are_excluded_but_man_directories_are_kept() {
    let engine = engine_with_images();
    for image in all_images() {
        let script = "find /usr/share/doc -mindepth 2 -type f ! -name copyright | head -3; \
                      find /usr/share/locale -mindepth 1 -maxdepth 1 ! -name locale.alias | head -3; \
                      find /usr/share/man -type f | head -3; \
                      test -d /usr/share/man/man1 && test -d /usr/share/man/man8 || echo no man directories";
        let ran = engine.sh(&image, script);
        assert_eq!(ran.stdout, "", "{image}");
    }
}

#[test]
fn sizes_are_within_their_budgets() {
    let engine = engine_with_images();
    let budgeted = suites().into_iter().flat_map(|(suite, _)| [base(suite), python(suite)]);
    for image in budgeted {
        let megabytes = image_budget(&image).unwrap_or_else(|| panic!("venvkit.conf has no budget for {image}"));
        let size: u64 = engine.inspect(&image, "{{.Size}}").parse().unwrap();
        assert!(size <= megabytes * 1_000_000, "{image} is {size} bytes, over its {megabytes} MB budget");
    }
}

#[test]
fn the_build_images_have_the_pinned_uv_which_makes_venvs_with_their_python_and_never_downloads_one() {
    let engine = engine_with_images();
    let dockerfile = std::fs::read_to_string(repo().join("images/build/Dockerfile")).unwrap();
    let pinned = dockerfile.lines().find_map(|line| line.strip_prefix("ARG UV_VERSION=")).expect("no UV_VERSION");
    // Without a network, so that a download would fail rather than happen.
    let script = r#"uv --version
uv venv -q /tmp/venv && /tmp/venv/bin/python -c 'import sys; print(sys.base_prefix, "%d.%d" % sys.version_info[:2])'
uv venv -q --python 3.10 /tmp/other 2>&1
echo "status $?""#;
    for (suite, python) in suites() {
        let ran = engine.sh(&build(suite), script);
        let lines: Vec<&str> = ran.stdout.lines().collect();
        assert!(lines.len() > 3, "{suite}: {}{}", ran.stdout, ran.stderr);
        assert!(lines[0].starts_with(&format!("uv {pinned} ")), "{suite}: {}", lines[0]);
        // The image's own Python, which the runtime has at the same path.
        assert_eq!(lines[1], format!("/usr {python}"), "{suite}");
        // UV_PYTHON_DOWNLOADS=never: uv says it will not download, and does not try.
        assert!(ran.stdout.contains("Python downloads are set to 'never'"), "{suite}: {}", ran.stdout);
        assert!(!ran.stdout.contains("Failed to download"), "{suite}: {}", ran.stdout);
        assert_eq!(lines.last(), Some(&"status 2"), "{suite}: {}", ran.stdout);
    }
}
