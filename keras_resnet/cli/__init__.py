"""What every command shares: the `keras-resnet` command line (`main`, `parser`), atomic files
(`files`), run folders (`run_folder`) and figures (`figures`). The library imports nothing from here."""
