from ocix.cli import main

main()
