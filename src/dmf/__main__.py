from dmf.cli.main import main

main()
