from swinsr.cli import main

main()
