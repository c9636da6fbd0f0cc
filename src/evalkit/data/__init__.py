"""Reading data: files, the data contract, periods, and the checks on arguments."""
