from ocix.cli.main import main

main()
