from acquis.cli.main import main

main()
