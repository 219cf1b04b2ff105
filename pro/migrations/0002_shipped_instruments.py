"""Load the shipped instruments (pro/instruments/*.json): the BPI short form and the opioid self-report."""

from django.db import migrations


def load(apps, schema_editor):
    from pro import instruments

    instruments.install_shipped(apps.get_model("pro", "Instrument"))


class Migration(migrations.Migration):
    dependencies = [("pro", "0001_initial")]

    operations = [migrations.RunPython(load, migrations.RunPython.noop)]
