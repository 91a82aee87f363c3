from capit_tui.cli import run

run()
