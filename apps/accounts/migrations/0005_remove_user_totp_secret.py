from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("accounts", "0004_totp_secrets_to_django_otp")]

    operations = [migrations.RemoveField(model_name="user", name="totp_secret")]
