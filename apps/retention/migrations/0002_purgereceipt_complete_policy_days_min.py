import django.core.validators
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("retention", "0001_initial")]

    operations = [
        migrations.AddField(
            model_name="purgereceipt",
            name="complete",
            field=models.BooleanField(
                default=False,
                help_text="every expired row not on hold was removed (else the time budget ran out: resumed next run)",
            ),
        ),
        migrations.AlterField(
            model_name="retentionpolicy",
            name="days",
            field=models.PositiveIntegerField(validators=[django.core.validators.MinValueValidator(1)]),
        ),
    ]
