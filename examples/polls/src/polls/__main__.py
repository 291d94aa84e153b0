"""`polls`: Django's management commands with the app's settings, plus --version."""
import os
import sys


def main(argv=None):
    argv = list(sys.argv if argv is None else argv)
    if argv[1:] == ["--version"]:
        from polls import __version__

        print(f"polls {__version__}")
        return 0
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "polls.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(argv)
    return 0


if __name__ == "__main__":
    sys.exit(main())
