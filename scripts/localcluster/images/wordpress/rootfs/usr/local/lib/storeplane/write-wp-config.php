<?php
// Prints /etc/wordpress/config-default.php (which Debian's wp-config.php loads) from the WORDPRESS_* environment.
// Every value is quoted with var_export, so no value can break out of its string.

function env_value(string $name, ?string $default = null): ?string
{
    $value = getenv($name);
    return ($value === false || $value === '') ? $default : $value;
}

$host = env_value('WORDPRESS_DB_HOST');
if ($host === null) {
    fwrite(STDERR, "wordpress: WORDPRESS_DB_HOST must be set\n");
    exit(1);
}
$defines = [
    'DB_HOST' => $host,
    'DB_NAME' => env_value('WORDPRESS_DB_NAME', 'wordpress'),
    'DB_USER' => env_value('WORDPRESS_DB_USER', 'wordpress'),
    'DB_PASSWORD' => env_value('WORDPRESS_DB_PASSWORD', ''),
    'DB_CHARSET' => 'utf8mb4',
    'DB_COLLATE' => '',
];
$generated = [];
foreach (['AUTH_KEY', 'SECURE_AUTH_KEY', 'LOGGED_IN_KEY', 'NONCE_KEY', 'AUTH_SALT', 'SECURE_AUTH_SALT',
          'LOGGED_IN_SALT', 'NONCE_SALT'] as $salt) {
    $value = env_value('WORDPRESS_' . $salt);
    if ($value === null) {
        // Without stable salts from a Secret, logins are valid only until the next restart.
        $value = bin2hex(random_bytes(32));
        $generated[] = $salt;
    }
    $defines[$salt] = $value;
}
if ($generated) {
    fwrite(STDERR, 'wordpress: generated random ' . implode(', ', $generated) . " (set WORDPRESS_* salts to keep logins across restarts)\n");
}
$prefix = env_value('WORDPRESS_TABLE_PREFIX', 'wp_');
if (!preg_match('/^[A-Za-z0-9_]+$/', $prefix)) {
    fwrite(STDERR, "wordpress: WORDPRESS_TABLE_PREFIX may hold only letters, digits and underscores\n");
    exit(1);
}

echo "<?php\n// Written by storeplane-entrypoint from the environment at container start; edits are lost on restart.\n";
foreach ($defines as $name => $value) {
    echo "define('$name', " . var_export($value, true) . ");\n";
}
echo "\$table_prefix = " . var_export($prefix, true) . ";\n";
echo <<<'PHP'
define('WP_CONTENT_DIR', '/var/www/wp-content');
// Must-use plugins come from the image (not the volume): every store gets the current ones, none can remove them.
define('WPMU_PLUGIN_DIR', '/usr/local/share/storeplane/mu-plugins');
// Local stores never reach the internet: no outgoing HTTP from WordPress, no pseudo-cron, no auto-updates.
define('WP_HTTP_BLOCK_EXTERNAL', true);
define('DISABLE_WP_CRON', true);
define('AUTOMATIC_UPDATER_DISABLED', true);
define('WP_AUTO_UPDATE_CORE', false);
define('FS_METHOD', 'direct');

PHP;
