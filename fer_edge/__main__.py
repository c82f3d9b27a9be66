"""`python -m fer_edge`: the `fer-edge` command, for where pip's scripts folder is not on PATH."""

import sys


def run() -> None:
    try:
        from fer_edge.cli import main
    except ModuleNotFoundError as error:
        if not (error.name or "").startswith(("fer_edge.train", "fer_edge.export")):
            raise
        # train/ and export/ sit beside fer_edge/ in a source checkout and join it only when installed
        sys.exit(
            "error: python -m fer_edge found the fer_edge/ folder of a source checkout before the installed package; "
            "run it from another folder, use the fer-edge command, or install the checkout with pip install -e ."
        )
    main()


if __name__ == "__main__":  # importing the module (a scan of every module, say) runs nothing
    run()
