"""`python -m fer_edge.cli`: the fer-edge command without its console script."""

from fer_edge.cli import main

if __name__ == "__main__":
    main()
