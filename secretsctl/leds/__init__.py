"""ci-keyboard-leds: the GitHub CI state of the shell's current directory, on the keyboard."""
