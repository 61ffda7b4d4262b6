"""The command line, `python -m slca_min`: the parser (main.py) and what each command does (commands.py).

The top of the house: may import anything in slca_min; nothing imports it but __main__.py.
"""
