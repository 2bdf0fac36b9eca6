"""`python -m belamy ...` and `torchrun -m belamy train ...` enter here."""

from belamy.cli import main

if __name__ == "__main__":
    main()
