from leadrelay.entrypoints.cli.app import main

main()
