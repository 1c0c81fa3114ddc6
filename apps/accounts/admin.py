from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin

from .models import Agency, User


@admin.register(Agency)
class AgencyAdmin(admin.ModelAdmin):
    list_display = ("code", "name", "time_zone")
    search_fields = ("code", "name")


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    fieldsets = BaseUserAdmin.fieldsets + (("Center", {"fields": ("agency", "role")}),)
    add_fieldsets = BaseUserAdmin.add_fieldsets + (("Center", {"fields": ("agency", "role")}),)
    list_display = ("username", "agency", "role", "is_active", "is_staff")
    list_filter = ("agency", "role", "is_active")
