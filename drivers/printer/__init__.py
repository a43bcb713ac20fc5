"""Receipt printers: ESC/POS thermal printers over serial or USB."""
