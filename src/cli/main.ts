import { Command } from 'commander';
import { registerServeCommands } from './serve-command.js';
import { registerIdentityCommands } from './identity-commands.js';
import { registerMigrateCommand } from './migrate-command.js';
import { registerCredentialCommands } from './credential-commands.js';

/** `bulwark <command>`; `bulwark --help` lists everything. */
export async function run(argv: string[]): Promise<void> {
  const program = new Command('bulwark')
    .description('Self-hosted Microsoft Graph securityActions API that enforces what it records')
    .showHelpAfterError()
    .enablePositionalOptions();
  registerServeCommands(program);
  registerMigrateCommand(program);
  registerIdentityCommands(program);
  registerCredentialCommands(program);
  await program.parseAsync(argv);
}
