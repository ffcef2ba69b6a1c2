from trackerdcs.cli import main

main()
