from ethan.cli import app

app(prog_name="ethan")
