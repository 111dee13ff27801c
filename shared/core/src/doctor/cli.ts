#!/usr/bin/env node
import { Command, Option } from 'commander';
import { createDoctorCommand } from './command.js';

const program = new Command('scope-plugin-doctor');
createDoctorCommand(program);
program.addOption(new Option('--version').hideHelp());
await program.parseAsync(process.argv);
