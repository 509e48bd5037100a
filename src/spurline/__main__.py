"""``python -m spurline``: the same as the ``spurline`` command."""

from spurline.cli.main import main

if __name__ == "__main__":
    main()
