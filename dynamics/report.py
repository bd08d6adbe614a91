def write_report(fits, path, *, data=None, **options):
    raise NotImplementedError
