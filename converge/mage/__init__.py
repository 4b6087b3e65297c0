"""converge's side of the Mage pipeline: the blocks' work (steps) and the headless run (runner)."""
