# Runs in the MariaDB image chroot after the packages: the postinst initialised a data dir that belongs to no
# store, so it goes; the entrypoint initialises the (volume's) data dir on first start instead.
rm -rf /var/lib/mysql /run/mysqld /var/log/mysql /etc/mysql/debian.cnf
install -d -o mysql -g mysql -m 0750 /var/lib/mysql
install -d -o mysql -g mysql -m 0755 /run/mysqld
command -v mariadb mariadb-admin mariadbd mariadb-install-db >/dev/null
